"""Executing a study: lay out its folder, load it back verified, run what is not finished (in this process or as Ray
tasks). The study itself (grid, seeds, strategies, study.json) is :mod:`syft_fl.study`; its folder's checks are
:mod:`syft_fl.study_folder`; this module sits above both.
"""
import contextlib
import os
import signal
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .config import Config
from .study import (PACKAGE_DIR, ROOT, RunFailed, RunSpec, Study, _Progress, check_execution, execute_run,
                    pending_runs, write_study_file)
from .study_folder import load_checked_study, materialize

__all__ = ["create_study_dir", "load_study", "run_study", "config_ray_address"]


def create_study_dir(study: Study, out_dir: str) -> None:
    """Write study.json, each point's point.yaml and each run's config.yaml (``out_dir`` must be empty or new)."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(f"--out {out_dir!r} is not empty (continue a study there with --resume {out_dir})")
    os.makedirs(out_dir, exist_ok=True)
    materialize(study, out_dir)
    write_study_file(study, out_dir)


def load_study(out_dir: str, flag: str = "--resume") -> Study:
    """The study of ``out_dir`` for ``--resume`` / ``--extend``: study.json checked against its schema and every
    run folder against it (:mod:`syft_fl.study_folder`); StudyError (one line) for anything that does not fit."""
    return load_checked_study(out_dir, flag)


def run_study(study: Study, out_dir: str, *, workers: Optional[int] = None, address: Optional[str] = None,
              progress: bool = True, on_run_done: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Execute the unfinished runs of the study laid out in ``out_dir`` (see the module docstring).

    ``workers``: parallel Ray tasks (None: the CPUs Ray sees); 0 without ``address``: in this process, no Ray.
    ``address``: a Ray cluster (``auto``, ``ray://host:port``) instead of a local Ray started for the study.
    ``on_run_done(run_dir)`` is called in this process after each run finishes. Returns the execution record
    (runs skipped / executed, workers, wall seconds). Raises :class:`RunFailed` after all runs, if any raised.
    """
    check_execution(study, workers, address)
    started = time.perf_counter()
    materialize(study, out_dir)  # folders of runs added by --extend, and runs that now hold more strategies
    todo = pending_runs(study, out_dir)
    sizes = [(os.path.join(out_dir, r.rel_dir), r.config.rounds * len(r.config.strategies)) for r in study.runs]
    bar = _Progress(sizes, progress)
    failures: List[Tuple[str, str]] = []
    use_ray = address is not None or workers != 0
    try:
        if use_ray:
            used = _run_on_ray(todo, out_dir, workers, address, failures, on_run_done)
        else:
            used = 1
            for spec in todo:
                run_dir = os.path.join(out_dir, spec.rel_dir)
                try:
                    execute_run(spec.config, run_dir)
                except Exception as err:  # a failing run is data; the others go on
                    failures.append((spec.rel_dir, f"{type(err).__name__}: {err}"))
                    continue
                if on_run_done is not None:
                    on_run_done(run_dir)
    finally:
        bar.close()
    if failures:
        raise RunFailed(failures)
    return {"runs": len(study.runs), "executed": len(todo), "skipped": len(study.runs) - len(todo),
            "workers": used, "ray": use_ray, "address": address, "wall_s": time.perf_counter() - started}


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while the block starts child processes (they keep it ignored), restored after.

    A terminal's Ctrl-C goes to the whole foreground process group; a local Ray's GCS and raylet killed by it
    leave the driver nothing to shut down cleanly (Ray 2.7 then aborts at exit). With SIGINT ignored in them, the
    driver alone gets KeyboardInterrupt, cancels the tasks (force: their workers are killed) and shuts Ray down.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def config_ray_address(config: Config) -> Optional[str]:
    """The config's ``ray.address`` (the Ray transport's cluster), when the config has that key and sets it."""
    address = getattr(getattr(config, "ray", None), "address", None)
    return address or None


def _ray_init(workers: Optional[int], address: Optional[str]) -> int:
    """Start (or join) Ray for the study; returns how many tasks to keep in flight."""
    import ray

    if address is None:
        env = {"env_vars": {"PYTHONPATH": ROOT}}  # the workers import syft_fl from this checkout
        with _sigint_ignored():  # Ray's daemons inherit it: Ctrl-C in a terminal reaches only this process
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     runtime_env=env, object_store_memory=100 * 1024 * 1024,
                     _system_config={"worker_niceness": 0})  # Ray's default 15 lets anything else starve the runs
    else:
        ray.init(address=address, log_to_driver=False, runtime_env={"py_modules": [PACKAGE_DIR]})
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(workers or cpus, cpus) if address is None else (workers or cpus))


def _run_on_ray(todo: Sequence[RunSpec], out_dir: str, workers: Optional[int], address: Optional[str],
                failures: List[Tuple[str, str]], on_run_done: Optional[Callable[[str], None]]) -> int:
    """Run ``todo`` as Ray tasks, at most the workers in flight; cancel and shut Ray down on any exit."""
    import ray

    in_flight = _ray_init(workers, address)
    remote = ray.remote(num_cpus=1, max_retries=0)(execute_run)
    queue = list(todo)
    running: Dict[Any, RunSpec] = {}
    try:
        while queue or running:
            while queue and len(running) < in_flight:
                spec = queue.pop(0)
                running[remote.remote(spec.config, os.path.abspath(os.path.join(out_dir, spec.rel_dir)))] = spec
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                spec = running.pop(ref)
                try:
                    ray.get(ref)
                except Exception as err:  # RayTaskError wraps the run's exception
                    failures.append((spec.rel_dir, str(err).strip().splitlines()[-1]))
                    continue
                if on_run_done is not None:
                    on_run_done(os.path.join(out_dir, spec.rel_dir))
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        ray.shutdown()
    return in_flight
