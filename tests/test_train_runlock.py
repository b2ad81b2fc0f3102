"""One writer per run folder: a second ``yololab train --out DIR`` (or ``--resume``) is refused with the pid
of the process writing DIR; once that process is killed the folder is free again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from yololab.errors import UserError
from yololab.train.runlock import LOCK_NAME, acquire_run_lock

HOLD = """
import sys, time
from yololab.train.runlock import acquire_run_lock
lock = acquire_run_lock(sys.argv[1])
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture()
def holder(tmp_path: Path):
    """A separate process holding the lock of ``tmp_path / 'run'`` (killed with SIGKILL at the end)."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield out, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize("extra", [[], ["--resume"]])
def test_second_writer_is_refused_with_the_pid(holder, tmp_path: Path, extra: list[str], capsys) -> None:
    from yololab.cli import main

    out, proc = holder
    (out / "config.yaml").write_text(f"data: {tmp_path / 'none.yaml'}\nepochs: 2\n")  # something to resume
    # the CLI in this process (the holder is the other process): its exit code and message
    code = main(["train", "--out", str(out), "--data", str(tmp_path / "none.yaml"), "--device", "cpu", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"being written by process {proc.pid}" in err and str(out) in err
    with pytest.raises(UserError, match=f"process {proc.pid}"):  # the same answer in-process
        acquire_run_lock(out)


def test_killed_writer_frees_the_folder(holder) -> None:
    out, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / LOCK_NAME).read_text().strip() == str(proc.pid)  # a stale file, but no lock
    lock = acquire_run_lock(out)
    try:
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
    finally:
        lock.release()
    acquire_run_lock(out).release()  # released: taken again at once
