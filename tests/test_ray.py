"""transport: ray: UEs as syft workers in Ray actors give the virtual transport's results, byte for byte; a killed
actor's UEs are crashed for that round and the run goes on; Ctrl-C leaves no process behind.

Ray is started once for this module on this machine with 2 CPUs (the transport then joins it and leaves it up).
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from syft_fl.config import load_config
from syft_fl.procs import descendants, gone
from syft_fl.transport import ray_actors

from .helpers import read_csv, run_into, sigint_default, wait_for_first_round

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["rounds=2", "num_ues=4", "ues_per_round=4", "model=2nn", "train_size=300", "test_size=100",
        "partition=iid", "batch_size=20", "torch_threads=1"]
# as tests/test_websocket.py: with seed 1 these faults take every path of the round (full, partial, base_only,
# dropped, rejected, crashed, corrupted tiers)
FAULTY = ["seed=1", "deadline_s=2.6", "increment_window_s=0.5", "faults.ue_crash_prob=0.15",
          "faults.nan_update_prob=0.15", "faults.corrupt_tier_prob=0.2"]
RAY = ["transport=ray", "ray.num_actors=2"]
# a base every UE decodes and a refinement only the better half does (tests/test_downlink.py)
BROADCAST = ["downlink=broadcast", "broadcast.spec=uniform:2+6,block=256", "broadcast.coverage=[1.0,0.5]",
             "broadcast.bandwidth_hz=1e5", "deadline_s=30"]
ARRIVED = {"full", "partial", "base_only"}


def config_of(*extra, strategies=("full", "tiered")):
    return load_config(None, TINY + list(extra), strategies=list(strategies))


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray_actors.init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.mark.e2e
def test_ray_run_equals_virtual_run(tmp_path, local_ray):
    virtual, on_ray = tmp_path / "virtual", tmp_path / "ray"
    # with local augmentation on, so its task fields (augment, fill) cross the transport too
    run_into(virtual, config_of(*FAULTY, "augment=crop_flip"))
    run_into(on_ray, config_of(*FAULTY, "augment=crop_flip", *RAY))

    for name in ("rounds.csv", "uplinks.csv", "summary.json"):
        assert (on_ray / name).read_bytes() == (virtual / name).read_bytes(), name
    statuses = {r["status"] for r in read_csv(on_ray / "uplinks.csv")}
    assert "crashed" in statuses and "rejected" in statuses and statuses & ARRIVED  # the fault paths were taken


@pytest.mark.e2e
def test_ray_broadcast_run_equals_virtual_run(tmp_path, local_ray):
    """A two-layer broadcast (issue 24): each actor gives each UE the layers it decoded; the same rows."""
    virtual, on_ray = tmp_path / "virtual", tmp_path / "ray"
    run_into(virtual, config_of(*BROADCAST))
    run_into(on_ray, config_of(*BROADCAST, *RAY))
    for name in ("rounds.csv", "uplinks.csv", "summary.json"):
        assert (on_ray / name).read_bytes() == (virtual / name).read_bytes(), name
    assert {r["downlink_layers"] for r in read_csv(on_ray / "uplinks.csv") if r["status"] != "not_selected"} == {"1", "2"}


@pytest.mark.e2e
def test_killed_actor_crashes_its_ues_for_that_round_and_the_run_goes_on(tmp_path, local_ray, monkeypatch):
    """Actor 0 (UEs 0 and 2) is killed in round 1 of the first strategy, after the tasks were handed out: those
    two UEs are crashed in that round only; Ray restarts the actor, which loads its shards again."""
    submit = ray_actors.RayTransport.submit
    killed = []

    def submit_then_kill(self, tasks):
        handle = submit(self, tasks)
        if tasks[0].round == 1 and not killed:
            local_ray.kill(self.actors[0], no_restart=False)
            killed.append(True)
        return handle

    monkeypatch.setattr(ray_actors.RayTransport, "submit", submit_then_kill)
    run_into(tmp_path, config_of("rounds=3", *RAY))

    assert killed
    rounds = read_csv(tmp_path / "rounds.csv")
    assert [(r["strategy"], r["round"]) for r in rounds] == [(s, str(n)) for s in ("full", "tiered") for n in range(3)]
    assert [int(r["n_crashed"]) for r in rounds] == [0, 2, 0, 0, 0, 0]
    crashed = {(u["round"], u["ue"]) for u in read_csv(tmp_path / "uplinks.csv")
               if u["strategy"] == "full" and u["status"] == "crashed"}
    assert crashed == {("1", "0"), ("1", "2")}


@pytest.mark.e2e
def test_importing_and_running_virtual_does_not_import_ray():
    code = ("import sys; from syft_fl.config import load_config; from syft_fl.experiment import build_federation; "
            "fed = build_federation(load_config(None, ['num_ues=3', 'ues_per_round=2', 'model=2nn'])); "
            "fed.transport.close(); assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


@pytest.mark.e2e
def test_ctrl_c_shuts_ray_down_and_leaves_no_process(tmp_path):
    """SIGINT to run_tiered.py with transport: ray (Ray started by the run): exit code 130, and every process
    the run started (Ray's own and the actors) is gone."""
    out = tmp_path / "run"
    args = TINY + RAY + ["rounds=1000", "ray.num_actors=1"]
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "experiments", "run_tiered.py"), "--out", str(out), "--no-progress",
         "--no-plots", "--strategies", "tiered", *[a for kv in args for a in ("--set", kv)]],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, preexec_fn=sigint_default)
    try:
        wait_for_first_round(proc, out, 180)
        started = descendants(proc.pid)
        assert len(started) >= 3  # Ray's processes and the actor
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in started if not gone(pid)] == []
