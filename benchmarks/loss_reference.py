"""Reference values of upstream's losses for tests/test_train_loss.py: loss components AND gradients.

Runs ultralytics/yolov5's ``ComputeLoss`` and WongKinYiu/yolov7's ``ComputeLossOTA`` (each in its own
checkout, in a subprocess, in float64) on fixed seeded inputs -- three levels of raw head outputs
(batch 2, 128x128, nc=3, the default P3-P5 anchors) and 10 targets -- then yololab's ``YOLOLoss``
(assigner 'yolov5' / 'ota') on the same inputs, prints the differences, and writes upstream's values
(box/obj/cls, total, and a digest of d(total)/d(predictions) per level: sum, norm, |sum| per channel,
and sampled elements) with the command line and the upstream commits to ``--out``.

Upstream's hyperparameters are its hyp.scratch-low.yaml with label_smoothing 0.1, scaled as its train.py
scales them.

Expected: ComputeLoss equals yololab to ~1e-16. ComputeLossOTA picks the same positives (the class loss
and the class-channel gradients agree to ~1e-16) but its CIoU (yolov7 utils/general.py bbox_iou) adds
eps=1e-7 to box heights where yolov5's (and torchvision's, which yololab uses) does not: box/objectness
terms differ by ~5e-9 in float64. Needs checkouts (git) of both repositories and an interpreter with their requirements
(pandas, opencv, ...); nothing of theirs is imported into yololab:

    python benchmarks/loss_reference.py --yolov5 /tmp/yolov5 --yolov7 /tmp/yolov7 \\
        --python /tmp/upvenv/bin/python [--out tests/data/loss_reference.json]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
# the default YOLOv5/YOLOv7 P3-P5 anchors (pixels) and strides
ANCHORS_PX = [[[10, 13], [16, 30], [33, 23]], [[30, 61], [62, 45], [59, 119]], [[116, 90], [156, 198], [373, 326]]]
STRIDES = [8, 16, 32]
BATCH, IMGSZ, NC, SEED, N_TARGETS, LABEL_SMOOTHING = 2, 128, 3, 0, 10, 0.1
N_TOP, N_RANDOM = 8, 8  # sampled gradient elements per level: the largest |grad| and seeded random ones

UPSTREAM = {  # assigner -> (repository, class in utils/loss.py)
    "yolov5": ("ultralytics/yolov5", "ComputeLoss"),
    "ota": ("WongKinYiu/yolov7", "ComputeLossOTA"),
}

# Runs inside an upstream checkout: its own loss class on the saved inputs, in float64.
RUN_UPSTREAM = """
import platform, sys, torch
sys.path.insert(0, '.')
torch.set_default_dtype(torch.float64)  # upstream's accumulators and gains are created with the default dtype
from utils import loss as upstream_loss
cls_name, io = sys.argv[1], sys.argv[2]
inp = torch.load(io + '_in.pt')
anchors_px, strides = inp['anchors_px'], inp['strides']

class FakeDetect(torch.nn.Module):  # what the loss classes read from model.model[-1]
    def __init__(self):
        super().__init__()
        self.na, self.nc, self.nl = anchors_px.shape[1], inp['nc'], anchors_px.shape[0]
        self.stride = strides
        self.anchors = anchors_px / strides.view(-1, 1, 1)  # grid units, as Model() leaves them

class FakeModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.model = torch.nn.ModuleList([FakeDetect()])
        self.hyp, self.gr = inp['hyp'], 1.0  # train.py sets model.gr = 1.0
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # the loss reads the device of the parameters

compute = getattr(upstream_loss, cls_name)(FakeModel())
preds = [p.clone().requires_grad_(True) for p in inp['preds']]
targets = inp['targets'].clone()
if cls_name == 'ComputeLossOTA':
    imgs = torch.zeros(preds[0].shape[0], 3, inp['imgsz'], inp['imgsz'])
    total, items = compute(preds, targets, imgs)
else:
    total, items = compute(preds, targets)
total.sum().backward()
torch.save({'total': total.detach().reshape(()), 'items': items[:3].detach(),
            'grads': [p.grad for p in preds], 'torch': str(torch.__version__),
            'python': platform.python_version()}, io + '_out.pt')
"""


def raw_maps(batch: int = BATCH, size: int = IMGSZ, nc: int = NC, seed: int = SEED) -> list[torch.Tensor]:
    """Three levels of seeded raw head outputs (b, na, h, w, 5 + nc), float32 draws cast to float64."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, size // s, size // s, 5 + nc, generator=g) * 0.5).double() for s in STRIDES]


def random_targets(n: int = N_TARGETS, batch: int = BATCH, nc: int = NC, seed: int = SEED) -> torch.Tensor:
    """(n, 6) [image, class, cx, cy, w, h] normalised, sorted by image (as the collate function leaves them)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.cat([torch.randint(0, batch, (n, 1), generator=g).float(),
                   torch.randint(0, nc, (n, 1), generator=g).float(),
                   torch.rand(n, 2, generator=g) * 0.8 + 0.1,
                   torch.rand(n, 2, generator=g) * 0.6 + 0.02], 1).double()
    return t[t[:, 0].argsort(stable=True)]


def upstream_hyp(yolov5: Path, nl: int = 3) -> dict[str, float]:
    """hyp.scratch-low.yaml of the yolov5 checkout, scaled as its train.py does, label smoothing set."""
    hyp = yaml.safe_load((yolov5 / "data" / "hyps" / "hyp.scratch-low.yaml").read_text())
    hyp["box"] *= 3 / nl
    hyp["cls"] *= NC / 80 * 3 / nl
    hyp["obj"] *= (IMGSZ / 640) ** 2 * 3 / nl
    hyp["label_smoothing"] = LABEL_SMOOTHING
    return {k: float(v) for k, v in hyp.items()}


def grad_digest(grad: torch.Tensor, seed: int) -> dict:
    flat = grad.reshape(-1)
    top = flat.abs().argsort(descending=True)[:N_TOP]
    rand = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(seed))[:N_RANDOM]
    index = torch.cat((top, rand))
    return {"shape": list(grad.shape), "sum": flat.sum().item(), "norm": flat.norm().item(),
            "abs_sum_per_channel": grad.abs().sum(dim=(0, 1, 2, 3)).tolist(),
            "sample_index": index.tolist(), "sample_value": flat[index].tolist()}


def yololab_loss(assigner: str, preds: list[torch.Tensor], targets: torch.Tensor, hyp: dict) -> dict:
    from yololab.train import Hyperparameters, YOLOLoss

    loss_fn = YOLOLoss(torch.tensor(ANCHORS_PX, dtype=torch.float64), torch.tensor(STRIDES, dtype=torch.float64),
                       NC, Hyperparameters.from_dict(hyp), assigner=assigner)
    preds = [p.clone().requires_grad_(True) for p in preds]
    total, items = loss_fn(preds, targets.clone())
    total.backward()
    return {"total": total.detach(), "items": items, "grads": [p.grad for p in preds]}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--yolov5", type=Path, required=True, help="ultralytics/yolov5 git checkout")
    parser.add_argument("--yolov7", type=Path, required=True, help="WongKinYiu/yolov7 git checkout")
    parser.add_argument("--python", default=sys.executable, help="interpreter with upstream's requirements")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "loss_reference.json")
    args = parser.parse_args()

    preds, targets = raw_maps(), random_targets()
    hyp = upstream_hyp(args.yolov5)
    checkouts = {"yolov5": args.yolov5, "ota": args.yolov7}
    reference = {
        "command": "python " + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "about": "upstream's loss on the inputs below, float64: total (= (box+obj+cls) * batch), [box, obj, cls], "
                 "and a digest of d(total)/d(preds) per level (sample_index: flat indices, the largest |grad| "
                 "first, then seeded random ones)",
        "dtype": "float64",
        "inputs": {
            "recipe": "benchmarks/loss_reference.py raw_maps() and random_targets() (float32 torch.Generator "
                      "draws, cast to float64; targets sorted by image)",
            "batch": BATCH, "imgsz": IMGSZ, "nc": NC, "seed": SEED, "n_targets": N_TARGETS,
            "anchors_px": ANCHORS_PX, "strides": STRIDES, "hyp": hyp,
            "pred_sums": [p.sum().item() for p in preds], "pred_first": [p.reshape(-1)[:4].tolist() for p in preds],
            "targets": targets.tolist(),
        },
        "upstream": {},
    }
    print(f"{'assigner':<9}{'upstream':<42}{'|d box|':>9}{'|d obj|':>9}{'|d cls|':>9}{'|d total|':>10}"
          f"{'|d grad| box+obj':>17}{'|d grad| cls':>13}")
    worst = {"yolov5": 0.0, "ota_box_obj": 0.0, "ota_cls": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        io = str(Path(tmp) / "io")
        torch.save({"preds": preds, "targets": targets, "anchors_px": torch.tensor(ANCHORS_PX, dtype=torch.float64),
                    "strides": torch.tensor(STRIDES, dtype=torch.float64), "nc": NC, "imgsz": IMGSZ, "hyp": hyp},
                   io + "_in.pt")
        for assigner, (repo_name, cls_name) in UPSTREAM.items():
            repo = checkouts[assigner]
            subprocess.run([args.python, "-c", RUN_UPSTREAM, cls_name, io], cwd=repo, check=True)
            up = torch.load(io + "_out.pt", weights_only=True)
            ours = yololab_loss(assigner, preds, targets, hyp)
            d_items = (ours["items"] - up["items"]).abs().tolist()
            d_total = (ours["total"] - up["total"]).abs().item()
            d_box_obj = max((a - b)[..., :5].abs().max().item() for a, b in zip(ours["grads"], up["grads"]))
            d_cls = max((a - b)[..., 5:].abs().max().item() for a, b in zip(ours["grads"], up["grads"]))
            if assigner == "yolov5":
                worst["yolov5"] = max(*d_items, d_total, d_box_obj, d_cls)
            else:
                worst["ota_box_obj"] = max(d_items[0], d_items[1], d_total, d_box_obj)
                worst["ota_cls"] = max(d_items[2], d_cls)
            commit = git(repo, "rev-parse", "HEAD")
            print(f"{assigner:<9}{repo_name + '@' + commit[:10] + ' ' + cls_name:<42}"
                  + "".join(f"{d:>9.1e}" for d in d_items) + f"{d_total:>10.1e}{d_box_obj:>17.1e}{d_cls:>13.1e}")
            reference["upstream"][assigner] = {"repository": repo_name, "commit": commit,
                                               "describe": git(repo, "describe", "--tags", "--always"),
                                               "file": "utils/loss.py",
                                               "class": cls_name, "torch": up["torch"],
                                               "python": up["python"]}
            reference[assigner] = {
                "total": up["total"].item(), "items": up["items"].tolist(),
                "grad": [grad_digest(g, SEED + level) for level, g in enumerate(up["grads"])],
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {args.out}; worst differences yololab vs upstream: "
          + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    ok = worst["yolov5"] < 1e-12 and worst["ota_cls"] < 1e-12 and worst["ota_box_obj"] < 2e-8
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
