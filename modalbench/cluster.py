"""The local dask cluster that ``prepare --workers`` and ``modalbench run --workers`` start."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import LocalCluster

#: the dashboard binds a free port: dask's default 8787 is often taken (another cluster, Jupyter), and dask then
#: warns on stderr before it moves to a random port anyway
DASHBOARD_ADDRESS = ":0"


def local_cluster(workers: int) -> LocalCluster:
    """``workers`` single-threaded worker processes on this machine (close it, or use it as a context manager)."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=DASHBOARD_ADDRESS
    )
