"""Two disjoint data sets from ../shared's coco128 for the worked example across data sets.

Half A: the first 64 images of train2017 and of val2017; half B: the last 64 of each. Writes
OUT/a.yaml and OUT/b.yaml (image lists with absolute paths; the photos stay where they are).

    python examples/coco128_halves.py [--coco128 ../shared/data/coco128] [--out runs/coco128_halves]
    yololab compare --config examples/coco128_two_sets.yaml --out runs/two_sets
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--coco128", default="../shared/data/coco128")
    p.add_argument("--out", default="runs/coco128_halves")
    args = p.parse_args()
    root, out = Path(args.coco128).resolve(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = yaml.safe_load((root / "data.yaml").read_text())["names"]
    for half, pick in (("a", slice(0, 64)), ("b", slice(64, 128))):
        lists = {}
        for split in ("train2017", "val2017"):
            images = sorted((root / "images" / split).glob("*.jpg"))[pick]
            listed = out / f"{half}_{split}.txt"
            listed.write_text("".join(f"{image}\n" for image in images))
            lists[split] = str(listed.resolve())
        (out / f"{half}.yaml").write_text(yaml.safe_dump(
            {"path": str(root), "train": lists["train2017"], "val": lists["val2017"], "names": names}))
        print(f"{out / f'{half}.yaml'}: 64 train, 64 val images")


if __name__ == "__main__":
    main()
