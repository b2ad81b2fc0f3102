"""Exactness of a 1-channel stem adapted by timm's rule, in mAP: upstream's yolov5n.pt adapted to one input
channel, on a grayscale copy of coco128's val images, against the RGB model on the same gray images
replicated to three channels.

    PYTHONPATH=src python benchmarks/bench_gray_stem.py [--data ../shared/data/coco128] [--imgsz 640]

The gray copy is written as PNG (lossless) into a temporary folder; the 1-channel model reads channel 0
of the replicated batch, which is the gray image itself. Prints both mAPs, their difference and the
largest relative difference of the raw outputs on one image.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn


class FirstChannel(nn.Module):
    """A 1-channel detector fed channel 0 of a (B, 3, H, W) batch of replicated gray images."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.stride, self.num_classes = model.stride, model.num_classes

    def forward(self, images: torch.Tensor):
        return self.model(images[:, :1])

    def decode(self, raw):
        return self.model.decode(raw)


def gray_copy(data: Path, out: Path) -> Path:
    """coco128's val split as gray PNGs (R = G = B) with the same labels; returns the data YAML."""
    (out / "images").mkdir(parents=True)
    for src in sorted((data / "images" / "val2017").glob("*.jpg")):
        gray = np.asarray(Image.open(src).convert("L"))
        Image.fromarray(np.repeat(gray[..., None], 3, 2)).save(out / "images" / f"{src.stem}.png")
    shutil.copytree(data / "labels" / "val2017", out / "labels")
    names = (data / "data.yaml").read_text().split("names:", 1)[1]
    (out / "data.yaml").write_text(f"path: .\ntrain: images\nval: images\nnames:{names}")
    return out / "data.yaml"


def main() -> None:
    from yololab.data import load_split
    from yololab.eval.validate import ValSettings, validate
    from yololab.models.checkpoints import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/coco128")
    parser.add_argument("--weights", default="../shared/weights/yolov5n.pt")
    parser.add_argument("--imgsz", type=int, default=640)
    args = parser.parse_args()
    rgb = load_model(args.weights).fuse()
    gray = load_model(args.weights, in_channels=1).fuse()
    with tempfile.TemporaryDirectory() as tmp:
        yaml = gray_copy(Path(args.data), Path(tmp))
        from yololab.data import load_data_config

        names = load_data_config(yaml).names
        records, _ = load_split(yaml, "val", log=False)
        settings = ValSettings(image_size=args.imgsz, batch_size=16)
        results = {label: validate(model, records, names, settings, progress=False)
                   for label, model in (("rgb x3", rgb), ("1-channel", FirstChannel(gray)))}
    x = torch.rand(1, 1, args.imgsz, args.imgsz)
    with torch.no_grad():
        diff = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(gray(x), rgb(x.repeat(1, 3, 1, 1))))
    print(f"yolov5n.pt on {len(records)} gray coco128 val images at {args.imgsz}:")
    for label, result in results.items():
        print(f"  {label:<10} mAP50-95 {result.metrics.map50_95:.6f}  mAP50 {result.metrics.map50:.6f}")
    a, b = results["rgb x3"].metrics, results["1-channel"].metrics
    print(f"  difference mAP50-95 {abs(a.map50_95 - b.map50_95):.2e}, mAP50 {abs(a.map50 - b.map50):.2e}; "
          f"raw outputs max relative difference {diff:.2e} ({gray.spec.stem_adaptation.rule})")


if __name__ == "__main__":
    main()
