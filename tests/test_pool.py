"""The one task pool: typed tasks in, typed outcomes out, the device entry handed to each task, on the
'local' and 'process' backends (Ray: test_compare_parallel, test_ray_no_shared_fs, test_tune_inputs), and
the folders that travel to a node without a shared filesystem."""

from __future__ import annotations

import os
import signal

import pytest

from yololab.config import ConfigError
from yololab.experiments.pool import POOLS, Placement, Task, TaskStatus, open_pool, run_tasks
from yololab.experiments.pool.shipping import add_back, mirror_back, pack_folder


def where(placement: Placement, value: int) -> tuple[int, str, int, bool]:
    """A task: its argument back with the device entry it got, its process and whether it ran alone."""
    if value < 0:
        raise ValueError(f"negative: {value}")
    if value == 99:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    return value, placement.device, os.getpid(), placement.alone


def _run(name: str, devices: list[str], values: list[int]) -> dict:
    outcomes = {}
    with open_pool(name, devices) as pool:
        run_tasks(pool, [Task(v, where, (v,)) for v in values], lambda o: outcomes.__setitem__(o.key, o))
    return outcomes


def test_every_backend_is_registered_by_name_and_an_unknown_one_is_refused():
    assert tuple(POOLS) == ("local", "process", "ray")
    with pytest.raises(ConfigError, match="unknown executor 'slurm'; choose from local, process, ray"):
        with open_pool("slurm", ["cpu"]):
            pass


def test_local_pool_runs_tasks_here_and_a_raising_task_is_a_failed_outcome():
    outcomes = _run("local", ["cpu"], [1, -2, 3])
    assert outcomes[1].value == (1, "cpu", os.getpid(), True) and outcomes[3].ok
    assert outcomes[-2].status == TaskStatus.FAILED and outcomes[-2].error == "ValueError: negative: -2"
    assert outcomes[-2].value is None and outcomes[-2].device == "cpu"


def test_process_pool_hands_each_task_a_device_entry_in_a_fresh_process():
    outcomes = _run("process", ["cpu", "cpu"], [1, 2, 3, -4])
    values = [outcomes[k].value for k in (1, 2, 3)]
    assert all(o.ok for k, o in outcomes.items() if k > 0) and {v[1] for v in values} == {"cpu"}
    pids = {v[2] for v in values}
    assert os.getpid() not in pids and len(pids) == 3  # a fresh worker per task
    assert not any(v[3] for v in values)  # two workers: none runs alone (no progress bars)
    assert outcomes[-4].status == TaskStatus.FAILED and "negative: -4" in outcomes[-4].error


def test_a_killed_worker_fails_its_task_and_the_pool_goes_on():
    outcomes = _run("process", ["cpu"], [1, 99, 2])
    assert outcomes[99].status == TaskStatus.FAILED and "worker process died" in outcomes[99].error
    assert outcomes[1].ok and outcomes[2].ok and outcomes[2].value[3]  # one worker: it runs alone


def test_shipped_folders_come_back_mirrored_or_added(tmp_path):
    own, common = tmp_path / "own", tmp_path / "common"
    own.mkdir()
    (own / "stale.json").write_text("{}")
    (own / ".lock").write_text("1")
    sent = pack_folder(own)
    assert set(sent) == {"stale.json"}  # a lock stays with its folder
    mirror_back(own, {"metrics.json": b"{}", "weights/last.pt": b"w"}, sent, done_marker="metrics.json")
    assert not (own / "stale.json").exists() and (own / "weights" / "last.pt").read_bytes() == b"w"
    add_back(common, {"gt.json": b'{"a": 1}'})
    add_back(common, {"gt.json": b'{ "a" : 1 }'})  # the same JSON: fine
    with pytest.raises(ConfigError, match="holds other content than a node returned"):
        add_back(common, {"gt.json": b'{"a": 2}'})
