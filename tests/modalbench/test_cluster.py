"""The local dask cluster: its dashboard never fights over dask's default port 8787."""

from __future__ import annotations

import socket
import warnings

from modalbench.cluster import local_cluster


def test_local_cluster_starts_without_the_port_8787_warning() -> None:
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))  # 8787 taken (by us, or already by someone else): dask would warn
        holder.listen(1)
    except OSError:
        pass
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with local_cluster(1) as cluster:
                port = cluster.scheduler.http_server.port
                assert len(cluster.workers) == 1
    finally:
        holder.close()
    assert port != 8787
    assert not [w for w in caught if "8787" in str(w.message)], [str(w.message) for w in caught]
