"""Test helpers shared by the test modules: tiny synthetic data, a tiny comparison spec and a tiny TrainConfig.

The pytest fixtures built on them (``tiny_data``, ``private_cache``) are in conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: what a tiny comparison shares (every test module overrides what it is about)
TINY_SPEC = {"name": "tiny", "models": ["yolov5n"], "backbones": ["native", "timm:resnet18"], "seeds": [0],
             "epochs": 1, "imgsz": 64, "batch": 2, "workers": 0, "eval_batch": 4, "latency_runs": 2,
             "latency_warmup": 1, "latency_backends": ["torch"]}


def make_tiny_data(root: Path, test_split: bool = False, **overrides) -> Path:
    """4 train / 3 val synthetic images at 64 px under ``root`` (``overrides``: make_synthetic_dataset's
    arguments); ``test_split``: 3 more images (another seed) as a 'test' split. Returns the data YAML."""
    from yololab.data import make_synthetic_dataset

    data = make_synthetic_dataset(root, **{"num_train": 4, "num_val": 3, "img_size": 64, "seed": 1, **overrides})
    if test_split:
        extra = make_synthetic_dataset(root / "other", num_train=1, num_val=3, img_size=64, seed=2)
        for kind in ("images", "labels"):
            (extra.parent / kind / "val").rename(root / kind / "test")
        values = yaml.safe_load(data.read_text())
        data.write_text(yaml.safe_dump({**values, "test": "images/test"}, sort_keys=False))
    return data


def tiny_spec(data, **values):
    """A checked comparison spec of :data:`TINY_SPEC` on ``data`` with ``values`` in place of its own."""
    from yololab.experiments.plan.spec import spec_from_mapping

    return spec_from_mapping({**TINY_SPEC, "data": str(data), **values})


def train_cfg(data: Path, out: Path, **overrides):
    """A one-epoch TrainConfig of yolov5n at 64 px, batch 2, no loader workers, progress bars or plots."""
    from yololab.train.config import TrainConfig

    values = dict(model="yolov5n", data=str(data), imgsz=64, batch=2, epochs=1, workers=0, out=str(out),
                  progress=False, plots=False)
    values.update(overrides)
    return TrainConfig(**values)
