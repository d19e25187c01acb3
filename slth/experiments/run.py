"""Run a sweep: skip finished tasks, compute the rest, write each result as it arrives.

Executors:

* ``workers=1``: in this process (``threads`` numba threads per task, default 1);
* ``workers > 1`` (default: the number of cores): a local process pool (``spawn``
  context), one numba thread and one BLAS thread per worker;
* ``scheduler=``: dask.distributed (``pip install "slth[dist]"``) -- a scheduler address
  (``"tcp://host:8786"``), ``"local"`` (a LocalCluster of ``workers`` processes with one
  thread each) or a ``distributed.Client``.

Workers only compute; this process writes every finished task to the store in its own
transaction. A task's random numbers come from its config, so the results do not
depend on the executor, the number of workers or the order of completion.

Scripts that call :func:`run` with ``workers > 1`` must guard their entry point with
``if __name__ == "__main__":`` (the ``spawn`` context re-imports the main module).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from tqdm import tqdm

from slth._validate import check_int
from slth.experiments.grid import Sweep, Task, load_sweep
from slth.experiments.registry import run_config
from slth.experiments.store import Store

__all__ = ["RunSummary", "run", "default_workers", "execute"]

#: Environment variables that cap BLAS/OpenMP threads in pool workers.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

_LOCK = threading.Lock()


def default_workers() -> int:
    """Cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class RunSummary:
    """What a call to :func:`run` did."""

    sweep: str
    total: int
    skipped: int
    finished: int
    failed: int
    seconds: float
    executor: str
    failures: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"sweep": self.sweep, "tasks": self.total, "skipped (already done)": self.skipped,
                "finished": self.finished, "failed": self.failed,
                "seconds": round(self.seconds, 3), "executor": self.executor}


def execute(key: str, config: dict, threads: int | None = None) -> tuple:
    """Compute one task: ``("ok", key, result)`` or ``("error", key, message, traceback)``."""
    try:
        return ("ok", key, run_config(config, threads))
    except Exception as exc:  # noqa: BLE001 - reported, stored, retried next run
        return ("error", key, f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _execute_dask(key: str, config: dict, threads: int | None = 1) -> tuple:
    # numba's parallel kernels must not run from several threads of one process at once
    with _LOCK:
        return execute(key, config, threads)


def _init_worker(parent: int) -> None:
    import numba

    numba.set_num_threads(1)

    def watch() -> None:
        # a worker whose parent was killed (even by SIGKILL) exits instead of idling forever
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="slth-parent-watch").start()


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Child processes started inside this block use one BLAS/OpenMP thread."""
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    for v in THREAD_VARS:
        os.environ[v] = "1"
    try:
        yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def _local(pending: list[Task], workers: int, threads: int | None) -> Iterator[tuple]:
    if workers == 1:
        for t in pending:
            yield execute(t.key, t.config, threads)
        return
    ctx = multiprocessing.get_context("spawn")
    with _single_threaded_children():
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                      initializer=_init_worker, initargs=(os.getpid(),))
        try:
            futures = [pool.submit(execute, t.key, t.config, 1) for t in pending]
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    try:
        for fut in cf.as_completed(futures):
            try:
                yield fut.result()
            except BrokenProcessPool as exc:
                raise RuntimeError(
                    "a worker process died abruptly (killed, out of memory, or the main "
                    "module could not be re-imported by the 'spawn' start method: guard "
                    "scripts with if __name__ == '__main__'); finished tasks are stored, "
                    "run again to resume") from exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _connect(scheduler, workers: int):
    """A dask client for ``scheduler``, and the objects this run must close."""
    try:
        import distributed
    except ModuleNotFoundError as exc:
        raise ValueError("scheduler: dask.distributed is not installed; "
                         "pip install \"slth[dist]\"") from exc
    if isinstance(scheduler, distributed.Client):
        return scheduler, []
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        return distributed.Client(cluster), [cluster]
    if isinstance(scheduler, str):
        try:
            return distributed.Client(scheduler, timeout="30s"), []
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"scheduler: cannot connect to {scheduler!r}: {exc}") from exc
    raise TypeError(f"scheduler must be an address string, 'local' or a "
                    f"distributed.Client, got {scheduler!r}")


def _dask(pending: list[Task], client) -> Iterator[tuple]:
    import distributed

    futures = [client.submit(_execute_dask, t.key, t.config, 1, key=f"slth-task-{t.key}",
                             pure=False) for t in pending]
    try:
        for fut in distributed.as_completed(futures):
            yield fut.result()
            fut.release()
    finally:
        client.cancel([f for f in futures if not f.done()])


def run(sweep: Sweep | Mapping | str | os.PathLike, store: Store | str | os.PathLike, *,
        workers: int | None = None, scheduler=None, progress: bool | None = None,
        threads: int = 1) -> RunSummary:
    """Run the tasks of ``sweep`` that ``store`` does not hold yet.

    Parameters
    ----------
    sweep : Sweep, mapping or path
        The sweep (a :class:`~slth.experiments.grid.Sweep`, its dict form, or a TOML file).
    store : Store or path
        Results file (created if missing).
    workers : int, optional
        Local worker processes (default: the number of cores), or the number of
        workers of a ``scheduler="local"`` cluster.
    scheduler : str or distributed.Client, optional
        Run on dask.distributed instead of the local pool (see the module docstring).
    progress : bool, optional
        tqdm progress bar with ETA (default: when writing to a terminal).
    threads : int
        numba (and k-d tree) threads of each task when ``workers=1``; pool and dask
        workers always use one. A sweep parallelises across tasks, so the default is 1
        (on many small tasks, several threads per task were measured 3-4 times slower;
        ``benchmarks/bench_sweep.py``); raise it for a few large tasks. Results do not
        depend on it.

    Returns
    -------
    RunSummary

    Examples
    --------
    >>> import tempfile, os
    >>> from slth.experiments import Sweep, run, Store
    >>> sweep = Sweep([{"experiment": "rss", "eps": [0.1, 0.05], "trials": 4}], name="doc")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "doc.sqlite")
    ...     first = run(sweep, path, workers=1, progress=False)
    ...     again = run(sweep, path, workers=1, progress=False)
    ...     with Store(path) as st:
    ...         stored = {r["eps"]: r["n_trials"] for r in st.rows()}
    >>> first.finished, again.skipped
    (2, 2)
    >>> from slth import rss
    >>> stored[0.1] == rss.min_samples(0.1, trials=4, seed=0, progress=False).tolist()
    True
    """
    if isinstance(sweep, (str, os.PathLike)):
        sweep = load_sweep(sweep)
    elif isinstance(sweep, Mapping):
        sweep = Sweep.from_dict(sweep)
    elif not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep, a mapping or a path, got "
                        f"{type(sweep).__name__}")
    workers = default_workers() if workers is None else check_int(workers, "workers", minimum=1)
    import numba

    threads = check_int(threads, "threads", minimum=1, maximum=numba.config.NUMBA_NUM_THREADS)
    tasks = sweep.tasks()                 # validated before the store is touched
    client, own = None, []
    if scheduler is not None:
        client, own = _connect(scheduler, workers)
        if isinstance(scheduler, str):
            own = [client, *own]          # created here: close the client, then the cluster
    t0 = time.perf_counter()
    st = None
    try:
        st = store if isinstance(store, Store) else Store(store)
        st.add_sweep(sweep.name, sweep.to_dict(), len(tasks))
        done = st.keys()
        pending = [t for t in tasks if t.key not in done]
        by_key = {t.key: t for t in pending}
        if client is not None:
            results = _dask(pending, client)
            executor = f"dask ({scheduler if isinstance(scheduler, str) else 'client'})"
        else:
            results = _local(pending, min(workers, max(1, len(pending))), threads)
            executor = f"local, {min(workers, max(1, len(pending)))} worker(s)"
        finished, failures = 0, []
        with tqdm(total=len(pending), desc=f"sweep {sweep.name}", unit="task",
                  disable=None if progress is None else not progress,
                  dynamic_ncols=True) as bar:
            for item in results:
                status, key = item[0], item[1]
                task = by_key[key]
                if status == "ok":
                    st.add(key, task.config, item[2], sweep=sweep.name)
                    finished += 1
                else:
                    st.add_failure(key, task.config, item[2], item[3], sweep=sweep.name)
                    failures.append({"key": key, "config": task.config, "error": item[2]})
                    bar.set_postfix(failed=len(failures))
                bar.update(1)
    finally:
        if st is not None and st is not store:
            st.close()
        for obj in own:
            obj.close()
    return RunSummary(sweep.name, len(tasks), len(tasks) - len(pending), finished,
                      len(failures), time.perf_counter() - t0, executor, failures)
