"""A sweep on a dask LocalCluster gives the same rows as the local runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from slth.experiments import Store, load_sweep, run

distributed = pytest.importorskip("distributed")

SMALL = Path(__file__).parent / "data" / "small_sweep.toml"
VOLATILE = {"timings", "finished", "sweep", "git_revision"}


def stable(rows):
    return {r["key"]: {k: v for k, v in r.items() if k not in VOLATILE} for r in rows}


def test_local_cluster_equals_local_run(tmp_path):
    sweep = load_sweep(SMALL)
    local, remote = tmp_path / "local.sqlite", tmp_path / "dask.sqlite"
    run(sweep, local, workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        first = run(sweep, remote, scheduler=client, progress=False)
        again = run(sweep, remote, scheduler=client, progress=False)
        workers = client.scheduler_info()["workers"].values()
    assert (first.finished, first.failed, first.executor) == (len(sweep), 0, "dask (client)")
    assert (again.skipped, again.finished) == (len(sweep), 0)
    assert sorted(w["nthreads"] for w in workers) == [1, 1]
    with Store(local) as a, Store(remote) as b:
        assert len(a) == len(b) == len(sweep)
        assert stable(a.rows()) == stable(b.rows())
