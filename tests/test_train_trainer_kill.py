"""A training process killed with SIGKILL leaves a last.pt that loads, and ``--resume`` carries on from it."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from yololab.cli import main
from yololab.data import make_synthetic_dataset


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path: Path, capsys) -> None:
    data = make_synthetic_dataset(tmp_path / "syn", num_train=6, num_val=2, img_size=64,
                                  classes=("square", "circle"), max_objects=2)
    out = tmp_path / "run"
    last = out / "weights" / "last.pt"
    log = tmp_path / "train.log"
    cmd = [sys.executable, "-m", "yololab", "train", "--model", "yolov5n", "--data", str(data), "--epochs", "500",
           "--imgsz", "64", "--batch", "2", "--workers", "0", "--out", str(out), "--no-progress", "--no-plots",
           "--val-every", "1000"]
    with open(log, "w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            deadline = time.monotonic() + 240
            while not last.exists():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "no last.pt after 240 s"
                time.sleep(0.05)
            time.sleep(0.7)  # somewhere in a later epoch, perhaps in the middle of a save
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL

    killed = torch.load(last, map_location="cpu", weights_only=True)  # whole, never truncated
    epoch = killed["epoch"]
    assert epoch >= 0 and killed["train_config"]["epochs"] == 500

    capsys.readouterr()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["train", "--out", str(out), "--resume", "--epochs", str(epoch + 2)])
    finally:
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    assert resumed["epoch"] == epoch + 1 and resumed["ema_updates"] > killed["ema_updates"]
    assert resumed["train_config"]["resume"] is True and resumed["train_config"]["imgsz"] == 64
    assert not list(last.parent.glob(".*.tmp"))  # a save cut by the kill is cleaned up on resume
    with open(out / "results.csv", newline="") as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == list(range(epoch + 2))
    assert "final: mAP50" in captured.out  # the last epoch is always validated
