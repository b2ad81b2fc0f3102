"""``protocol.json``: what a comparison's numbers depend on, and the check that refuses to mix protocols.

Binding fields (data fingerprints, selection and scoring split, checkpoint, determinism, every
shared setting, each backbone entry) must match when a folder is run again; adding seeds, models or
backbone entries extends a comparison and is allowed.  Software and hardware are recorded, and a
change there is logged, not refused (a resumed run may land on another machine).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from yololab.config import ConfigError
from yololab.experiments.plan.cell_config import VOLATILE_KEYS
from yololab.experiments.plan.comparison_plan import ComparisonPlan
from yololab.jsonfile import read_json_if_present, write_json
from yololab.experiments.plan.spec import ExperimentSpec, resolve_score_split, split_source

LOG = logging.getLogger("yololab")
PROTOCOL_VERSION = 1
PER_ENTRY_KEYS = ("name", "label", "pretrained", "freeze", "backbone_lr_mult")
# TrainConfig fields that belong to the cell, not to the shared protocol.
_PER_CELL = {"model", "backbone", "seed", "pretrained_backbone", "freeze", "backbone_lr_mult", *VOLATILE_KEYS}
BINDING = ("data", "selection_split", "score_split", "checkpoint", "determinism", "shared", "tune")


def split_fingerprint(data: str, split: str, image_dir: str | None = None) -> dict[str, Any]:
    """Image and label counts and a hash of the (relative) names and sizes of the split's files."""
    from yololab.data.source import open_split

    records = open_split(data, split, image_dir, log=False).records
    root = Path(data).resolve().parent
    digest = hashlib.sha256()
    lines = []
    for r in records:
        for path in (r.path, r.label_path):
            if path and os.path.exists(path):
                lines.append(f"{os.path.relpath(path, root)}\t{os.path.getsize(path)}\n")
    for line in sorted(lines):
        digest.update(line.encode())
    return {"images": len(records), "labels": int(sum(len(r.labels) for r in records)),
            "files_sha256": digest.hexdigest()[:16]}


def git_commit() -> dict[str, Any]:
    """yololab's git commit and whether its work tree has changes (None outside a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty)}


def _splits(spec: ExperimentSpec) -> list[str]:
    """The splits to fingerprint: those of a data YAML or VOC folder; train (and val) of COCO JSON data."""
    from yololab.data.source import is_coco_json, split_names

    if is_coco_json(spec.data):
        return ["train", "val"] if spec.train.get("val_data") else ["train"]
    return split_names(spec.data)


def stem_protocol(spec: ExperimentSpec, in_channels: int) -> dict[str, Any]:
    """How each entry's stem meets images of ``in_channels`` channels: a pretrained RGB stem is adapted by
    timm's rule (recorded, not binding: the data fingerprints change with the images anyway)."""
    from yololab.backbones.stem import planned_adaptation

    entries = {(b.label or b.name): planned_adaptation(b.pretrained, in_channels, b.name) for b in spec.backbones}
    return {"in_channels": in_channels, "adapted": entries}


def build_protocol(plan: ComparisonPlan, in_channels: int = 3) -> dict[str, Any]:
    """The protocol card of the plan (data fingerprints are computed here: one pass over the file sizes);
    ``in_channels`` is the data's channel count (its ``stems`` section says how pretrained stems meet it)."""
    from yololab.eval.validate import ValSettings
    from yololab.experiments.results.environment import environment, library_versions

    spec = plan.spec
    splits = {}
    for split in _splits(spec):
        data, image_dir = split_source(spec, split)
        splits[split] = split_fingerprint(data, split, image_dir)
    cfg = dataclasses.asdict(plan.cells[0].config)
    shared = {k: v for k, v in cfg.items() if k not in _PER_CELL}
    val = ValSettings(image_size=spec.resolved_eval_imgsz, batch_size=spec.eval_batch)
    shared["eval"] = {k: getattr(val, k) for k in ("image_size", "batch_size", "conf_thres", "iou_thres",
                                                   "max_det", "rect", "half")}
    shared["bootstrap_resamples"] = spec.bootstrap
    if spec.max_det is not None:  # recorded only when set, so that older folders' cards still match
        shared["eval"]["coco_max_det"] = spec.max_det
    if spec.slicing is not None:  # binding: sliced scores are not comparable with whole-image ones
        shared["eval"]["slicing"] = spec.slicing.describe()
    shared["robustness"] = spec.robustness.describe() if spec.robustness is not None else None  # binding
    entries = [{k: getattr(b, k) for k in PER_ENTRY_KEYS} for b in spec.backbones]
    differs = [k for k in PER_ENTRY_KEYS if len({repr(e[k]) for e in entries}) > 1]
    env = environment()
    return {
        "protocol_version": PROTOCOL_VERSION,
        "data": {"yaml": spec.data, "splits": splits},
        "selection_split": "val" if spec.checkpoint == "best" else None,
        "score_split": resolve_score_split(spec),
        "checkpoint": spec.checkpoint,
        "seeds": list(spec.seeds),
        "models": list(spec.models),
        "determinism": {"deterministic": bool(cfg.get("deterministic")),
                        "cudnn_benchmark": any(d != "cpu" for d in spec.devices) and not cfg.get("deterministic"),
                        "reseeding": "data order and augmentation reseeded each epoch from (seed, epoch, rank)"},
        "shared": shared,
        "backbones": entries,
        "differs_per_backbone": differs,
        "stems": stem_protocol(spec, in_channels),
        "reference": spec.reference,
        "tune": tune_protocol(spec),  # space, budget, sampler, pruner (binding)
        "tiles": tiles_protocol(spec),
        "software": {**library_versions(), **git_commit(), "python": platform.python_version()},
        "hardware": {"cpu": env.get("cpu"), "cuda": env.get("cuda"), "devices": list(spec.devices),
                     "platform": env.get("platform")},
    }


def tiles_protocol(spec: ExperimentSpec) -> dict[str, Any] | None:
    """Tiled training of every cell (the experiment's ``tiles:``, else its data YAML's) and the sliced val
    it implies, or None."""
    from yololab.data.source import is_coco_json
    from yololab.data.formats.voc_format import is_voc_data
    from yololab.data.formats.yolo_format import load_data_config

    tiles, source = spec.tiles, "experiment"
    if tiles is None and spec.data and not is_coco_json(spec.data) and not is_voc_data(Path(spec.data)):
        tiles, source = load_data_config(spec.data).tiles, "data"
    if tiles is None:
        return None
    return {**tiles.to_dict(), "from": source,
            "val": f"full-image sliced mAP (slices {tiles.size} px, overlap {tiles.overlap:g}, NMS on IOU 0.5)"}


def tune_protocol(spec: ExperimentSpec) -> dict[str, Any] | None:
    """The binding part of ``tune:`` (where the study is stored may change; it is recorded under 'tuning')."""
    if spec.tune is None:
        return None
    return {k: v for k, v in spec.tune.describe().items() if k != "storage"}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def protocol_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'field: old -> new' for every binding field that differs (entries compared by label)."""
    diffs = []
    flat_old = _flatten({k: old.get(k) for k in BINDING})
    flat_new = _flatten({k: new.get(k) for k in BINDING})
    for key in sorted(set(flat_old) | set(flat_new)):
        if key in ("data.yaml", "shared.data"):
            continue  # where the data lives may change; what it holds is the splits' fingerprints
        if flat_old.get(key) != flat_new.get(key):
            diffs.append(f"{key}: {flat_old.get(key)!r} -> {flat_new.get(key)!r}")
    old_entries = {e.get("label") or e.get("name"): e for e in old.get("backbones", [])}
    for entry in new.get("backbones", []):
        before = old_entries.get(entry.get("label") or entry.get("name"))
        for k in PER_ENTRY_KEYS if before else ():
            if before.get(k) != entry.get(k):
                diffs.append(f"backbones[{entry.get('label') or entry.get('name')}].{k}: {before.get(k)!r} -> "
                             f"{entry.get(k)!r}")
    return diffs


def check_and_write_protocol(plan: ComparisonPlan, in_channels: int = 3) -> dict[str, Any]:
    """Refuse a folder whose protocol.json differs in a binding field; else (re)write protocol.json."""
    out = plan.out
    new = build_protocol(plan, in_channels)
    old = read_json_if_present(out / "protocol.json")
    if old:
        diffs = protocol_differences(old, new)
        if diffs:
            raise ConfigError(f"{out} holds a comparison run with different settings (protocol.json): "
                              f"{'; '.join(diffs)}. Use another --out folder, or restore those settings")
        changed = [k for k in ("software", "hardware") if old.get(k) != new.get(k)]
        if changed:
            LOG.warning("%s: %s differ from the earlier run(s) in this folder (recorded, not refused)", out,
                        " and ".join(changed))
            new["earlier"] = [*old.get("earlier", []), {k: old.get(k) for k in ("software", "hardware")}]
        elif old.get("earlier"):
            new["earlier"] = old["earlier"]
    write_json(out / "protocol.json", new)
    return new
