"""DDP on CPU: ``torchrun --nproc_per_node 2 -m yololab train ... --device cpu`` (gloo) trains one epoch,
rank 0 writes the checkpoint and results, and ``yololab val`` loads what it wrote."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yololab.cli import main
from yololab.data import make_synthetic_dataset


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path, capsys) -> None:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    data = make_synthetic_dataset(tmp_path / "syn", num_train=4, num_val=2, img_size=64,
                                  classes=("square", "circle"), max_objects=2)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "yololab", "train", "--model", "yolov5n", "--data", str(data), "--epochs", "1", "--imgsz", "64",
           "--batch", "4", "--device", "cpu", "--workers", "0", "--out", str(out), "--no-progress", "--no-plots",
           "--json", str(out / "summary.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0/2" in proc.stderr and "backend gloo" in proc.stderr and "2 process(es)" in proc.stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_run"] == 1
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["train/box_loss"]) > 0
    ckpt = torch.load(out / "weights" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 0 and ckpt["train_config"]["batch"] == 4
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])  # the bare model, not the DDP wrapper

    capsys.readouterr()
    code = main(["val", "--weights", str(out / "weights" / "last.pt"), "--data", str(data), "--imgsz", "64",
                 "--batch", "2", "--workers", "0", "--json", str(tmp_path / "val.json")])
    assert code == 0, capsys.readouterr().err
    assert "map50_95" in json.loads((tmp_path / "val.json").read_text())
