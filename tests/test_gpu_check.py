"""benchmarks/gpu_check.sh keeps working: its --dry-run runs tiny CPU versions of every step and writes one
JSON with every step ok, and one log; bad arguments are refused."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def run(*args: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env or {k: v for k, v in os.environ.items() if k != "OUT"})


def test_arguments_are_checked(tmp_path: Path) -> None:
    proc = run("--dry-run")
    assert proc.returncode == 2 and "no output folder" in proc.stderr
    proc = run("--fast", str(tmp_path))
    assert proc.returncode == 2 and "unknown option --fast" in proc.stderr


@pytest.mark.slow
def test_dry_run_every_step(coco128, yolov5n_pt, tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    proc = run("--dry-run", env=env, timeout=960)
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    log = (tmp_path / "out" / "gpu_check.log").read_text()
    assert proc.returncode == 0, log[-4000:]
    assert report["dry_run"] is True and report["ok"] is True
    steps = report["steps"]
    assert list(steps) == ["env", "cuda_tests", "loader", "train", "latency", "torchrun", "compare", "packing"]
    assert all(s["ok"] for s in steps.values()), {k: s.get("error") for k, s in steps.items()}
    cuda_tests = (Path(__file__).parent / "test_cuda.py").read_text().count("\ndef test_")
    assert steps["cuda_tests"]["skipped"] == cuda_tests  # no GPU here: every cuda test skips, saying why
    assert steps["torchrun"]["backend"] == "gloo" and steps["torchrun"]["world_size"] == 1
    assert steps["train"]["cache_ram"]["images_per_s"] > 0 and len(steps["compare"]["cells"]) == 2
    packing = steps["packing"]  # 1 vs 2 cells at once, without and with the shared cache
    assert set(packing) >= {f"cells_{n}_cache_{c}" for n in (1, 2) for c in ("none", "disk")}
    assert len(packing["cells_2_cache_disk"]["per_cell"]) == 2 and packing["cells_1_cache_none"]["images_per_s_total"] > 0
    assert "needs an NVIDIA GPU" in log


def test_a_failing_step_is_recorded_and_the_others_run(tmp_path: Path) -> None:
    cmd = ["python3", str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path), "--data-root",
           str(tmp_path / "nothing"), "--dry-run", "--steps", "env", "latency"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert proc.returncode == 1 and report["ok"] is False
    assert not report["steps"]["env"]["ok"] and "coco128/data.yaml is missing" in report["steps"]["env"]["error"]
    assert report["steps"]["latency"]["ok"]  # needs no data: it ran all the same
