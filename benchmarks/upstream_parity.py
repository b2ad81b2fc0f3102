"""Output parity with upstream: build each model with upstream's own code, pickle it the upstream
way, load it with yololab.load_model, and compare the decoded outputs on the same input.

Needs local checkouts of ultralytics/yolov5 and WongKinYiu/yolov7 and their Python requirements
(this script only runs them; nothing of theirs is imported into yololab):

    python benchmarks/upstream_parity.py --yolov5 /tmp/yolov5 --yolov7 /tmp/yolov7 [--python /tmp/upvenv/bin/python]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import yololab

MODELS = {
    "yolov5": [f"models/yolov5{s}.yaml" for s in "nsmlx"],
    "yolov7": [f"cfg/training/{n}.yaml" for n in ("yolov7-tiny", "yolov7", "yolov7x")],
}

# Runs inside the upstream checkout: build, perturb BN statistics, run, pickle.
BUILD = """
import sys, torch
sys.path.insert(0, '.')
from models.yolo import Model
cfg, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = Model(cfg, ch=3, nc=80).eval()
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1); m.running_var.uniform_(0.5, 1.5)
x = torch.rand(1, 3, 256, 320)
with torch.no_grad():
    y = model(x)[0]
torch.save({'model': model, 'epoch': -1}, out + '.pt')
torch.save({'x': x, 'y': y}, out + '_io.pt')
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--yolov5", type=Path, help="ultralytics/yolov5 checkout")
    parser.add_argument("--yolov7", type=Path, help="WongKinYiu/yolov7 checkout")
    parser.add_argument("--python", default=sys.executable, help="interpreter with upstream's requirements")
    args = parser.parse_args()
    print(f"{'config':<40}{'yololab model':<15}{'max |diff|':>12}{'fused max |diff|':>18}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for family, configs in MODELS.items():
            repo = getattr(args, family)
            if repo is None:
                continue
            for cfg in configs:
                out = str(Path(tmp) / Path(cfg).stem)
                subprocess.run([args.python, "-c", BUILD, cfg, out], cwd=repo, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                model = yololab.load_model(out + ".pt")
                io = torch.load(out + "_io.pt", weights_only=True)
                with torch.no_grad():
                    diff = (model.decode(model(io["x"])) - io["y"]).abs().max().item()
                    fused = (model.fuse().decode(model(io["x"])) - io["y"]).abs().max().item()
                worst = max(worst, diff)
                print(f"{family + '/' + cfg:<40}{model.spec.model:<15}{diff:>12.2e}{fused:>18.2e}")
    print(f"worst unfused difference: {worst:.2e} (outputs are boxes in pixels, up to ~500)")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
