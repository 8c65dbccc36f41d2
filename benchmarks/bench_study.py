#!/usr/bin/env python
"""Wall time of one small study run three ways: in this process, on Ray with 1 worker, on Ray with 2 workers.

The study: the 2NN model, 10 UEs (5 per round), 1,000 training digits, `full` and `tiered`, 6 rounds, seeds 0-3
(4 runs, one point). Each way runs the same study into a fresh folder, Ray's start and shutdown inside the timed
region (a user waits for them too), and must give the same study.csv. Prints `name value unit` lines: the
reference is the in-process study; `ratio_ray1`, `ratio_ray2` are wall / reference; `speedup_2_over_1` is the
1-worker wall over the 2-worker wall; `concurrency_*` is the sum of the runs' own wall times (their timing.json)
over the study's wall time: about the number of runs that were really executing at once, whatever the machine's
load (a speed-up needs free cores; concurrency only needs the tasks to overlap).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from typing import Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from syft_fl.study import build_study  # noqa: E402
from syft_fl.study_run import create_study_dir, run_study  # noqa: E402
from syft_fl.study_report import record_timing, write_report  # noqa: E402

SETTINGS = ["model=2nn", "num_ues=10", "ues_per_round=5", "train_size=1000", "test_size=500", "partition=iid",
            "target_accuracy=0.8"]


def timed_study(workers: int, seeds: str, rounds: int) -> Tuple[float, float, bytes]:
    """(wall s, sum of the runs' wall s, study.csv bytes) of the study with ``workers`` Ray tasks (0: in this
    process, no Ray)."""
    study = build_study(overrides=SETTINGS + [f"rounds={rounds}"], strategies=["full", "tiered"], seeds=seeds,
                        command="benchmarks/bench_study.py")
    with tempfile.TemporaryDirectory() as out:
        create_study_dir(study, out)
        started = time.perf_counter()
        record = run_study(study, out, workers=workers, progress=False)
        wall = time.perf_counter() - started
        write_report(study, out, record_timing(out, record), plots=False)
        busy = 0.0
        for run in study.runs:
            with open(os.path.join(out, run.rel_dir, "timing.json")) as fh:
                busy += sum(json.load(fh)["wall_s"].values())
        with open(os.path.join(out, "study.csv"), "rb") as fh:
            return wall, busy, fh.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-3")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()} cpus")
    walls, csvs = {}, {}
    for name, workers in (("in_process", 0), ("ray_1_worker", 1), ("ray_2_workers", 2)):
        walls[name], busy, csvs[name] = timed_study(workers, args.seeds, args.rounds)
        print(f"study_{name} {walls[name]:.1f} s", flush=True)
        print(f"concurrency_{name} {busy / walls[name]:.2f} runs", flush=True)
    print(f"identical_study_csv {int(len(set(csvs.values())) == 1)} bool")
    print(f"ratio_ray1 {walls['ray_1_worker'] / walls['in_process']:.3f}")
    print(f"ratio_ray2 {walls['ray_2_workers'] / walls['in_process']:.3f}")
    print(f"speedup_2_over_1 {walls['ray_1_worker'] / walls['ray_2_workers']:.3f}")


if __name__ == "__main__":
    main()
