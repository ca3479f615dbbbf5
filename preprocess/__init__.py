"""Dask pipelines that turn parsed raw data into modalbench zarr stores."""
