"""Shared fixtures: the real data in ../shared beside the checkout (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COCO128 = SHARED / "data" / "coco128"
YOLOV5N_PT = SHARED / "weights" / "yolov5n.pt"


@pytest.fixture(scope="session")
def coco128() -> Path:
    if not (COCO128 / "data.yaml").is_file():
        pytest.skip(f"real COCO128 subset not found at {COCO128} (../shared beside the checkout)")
    return COCO128


@pytest.fixture(scope="session")
def yolov5n_pt() -> Path:
    if not YOLOV5N_PT.is_file():
        pytest.skip(f"upstream yolov5n.pt not found at {YOLOV5N_PT} (../shared beside the checkout)")
    return YOLOV5N_PT


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a test module (far faster than two on a shared 2-core machine); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
