"""Robustness to image corruptions (COCO-C protocol, Michaelis et al. 2019): mAP50-95 of a model on the
clean scoring split and under each corruption x severity, mPC (their mean) and rPC (mPC / clean).

The corrupted images are made in the loader (:class:`yololab.data.corrupted.CorruptedDataset`); the
cost is one scoring pass per corruption and severity, plus the clean one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yololab.data.corrupted import CorruptionSpec
from yololab.data.corruptions import BENCHMARK, FAMILIES, MIN_SIDE, NAMES, SEVERITIES
from yololab.data.source import DataSplit
from yololab.errors import UserError

if TYPE_CHECKING:
    from yololab.eval.protocol import ValModel
    from yololab.eval.request import CorruptionRequest, ValRequest
    from yololab.eval.validate import ValSettings

LOG = logging.getLogger("yololab")


@dataclass(frozen=True)
class CorruptedScore:
    """mAP50-95 under one corruption at one severity."""

    corruption: str
    severity: int
    map50_95: float


@dataclass(frozen=True)
class RobustnessResult:
    """Clean mAP50-95, the per corruption x severity scores, mPC and rPC (None with a clean mAP of 0)."""

    map50_95: float
    scores: tuple[CorruptedScore, ...]
    seed: int = 0
    seconds: float = 0.0

    @property
    def mpc(self) -> float:
        """Mean performance under corruption: the mean mAP50-95 over every corruption and severity."""
        return sum(s.map50_95 for s in self.scores) / len(self.scores)

    @property
    def rpc(self) -> float | None:
        """Relative performance under corruption: mPC / clean mAP50-95."""
        return self.mpc / self.map50_95 if self.map50_95 > 0 else None

    def table(self) -> dict[str, dict[int, float]]:
        """{corruption: {severity: mAP50-95}} in the order scored."""
        out: dict[str, dict[int, float]] = {}
        for s in self.scores:
            out.setdefault(s.corruption, {})[s.severity] = s.map50_95
        return out

    def as_dict(self) -> dict[str, Any]:
        """What ``yololab val --corruption ... --json`` writes (severities as strings: JSON keys)."""
        return {"map50_95": self.map50_95,
                "corruptions": {n: {str(k): v for k, v in row.items()} for n, row in self.table().items()},
                "mpc": self.mpc, "rpc": self.rpc, "seed": self.seed, "seconds": self.seconds}


def parse_corruptions(spec: str) -> tuple[str, ...]:
    """``all`` (the 15 benchmark corruptions), ``extra`` (the 4 held-out ones), a family name (noise,
    blur, weather, digital) or corruption names, comma-separated."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if part == "all":
            out += BENCHMARK
        elif part == "extra":
            out += NAMES[len(BENCHMARK):]
        elif part in FAMILIES:
            out += FAMILIES[part]
        elif part in NAMES:
            out.append(part)
        else:
            raise UserError(f"--corruption {spec}: {part!r} is not a corruption; expected all, extra, "
                            f"{', '.join(FAMILIES)} or names from {', '.join(NAMES)}")
    return tuple(dict.fromkeys(out))


def parse_severities(spec: str) -> tuple[int, ...]:
    """``all`` (1-5) or severities 1-5, comma-separated."""
    if spec.strip() == "all":
        return SEVERITIES
    try:
        values = [int(p) for p in spec.split(",")]
    except ValueError:
        values = []
    if not values or any(v not in SEVERITIES for v in values):
        raise UserError(f"--severity {spec}: expected all or integers from 1 to 5, comma-separated")
    return tuple(dict.fromkeys(values))


#: ``on_cell(corruption or None for clean, severity or None, ValResult)``: called after every pass
OnCell = Callable[[Any, Any, Any], None]


def score_corrupted(model: ValModel, split: DataSplit, corruptions: Sequence[str], severities: Sequence[int],
                    seed: int = 0, settings: ValSettings | None = None, device: Any = "cpu", progress: bool = False,
                    on_cell: OnCell | None = None) -> RobustnessResult:
    """Score ``model`` on ``split`` clean and under every corruption x severity (``validate`` with the
    same settings each time; fuse the model first). ``on_cell`` sees each pass's full
    :class:`ValResult` (detections included), for callers that need more than mAP (paired tests)."""
    from yololab.eval.validate import ValSettings, validate

    if not corruptions or not severities:
        raise ValueError("score_corrupted needs at least one corruption and one severity")
    specs = [CorruptionSpec(c, s, seed) for c in corruptions for s in severities]  # checks names early
    small = [r for r in split.records if min(r.width, r.height) < MIN_SIDE]
    if small:
        raise UserError(f"{len(small)} images are smaller than the {MIN_SIDE}x{MIN_SIDE} pixels the corruptions "
                        f"need, e.g. {small[0].path} ({small[0].width}x{small[0].height})")
    settings = settings or ValSettings()
    started = time.perf_counter()

    def run(spec: CorruptionSpec | None):
        result = validate(model, split.records, split.names, dataclasses.replace(settings, corruption=spec),
                          device, category_map=split.category_ids, progress=progress, gt=split.coco_gt)
        if on_cell is not None:
            on_cell(spec and spec.name, spec and spec.severity, result)
        return result.metrics.map50_95

    clean = run(None)
    LOG.info("clean: mAP50-95 %.4f", clean)
    scores = []
    for spec in specs:
        scores.append(CorruptedScore(spec.name, spec.severity, run(spec)))
        LOG.info("%s severity %d: mAP50-95 %.4f", spec.name, spec.severity, scores[-1].map50_95)
    return RobustnessResult(clean, tuple(scores), seed, time.perf_counter() - started)


def format_robustness(result: RobustnessResult) -> str:
    """A corruption x severity table of mAP50-95 with each row's mean, then clean AP, mPC and rPC."""
    table = result.table()
    severities = sorted({s.severity for s in result.scores})
    width = max(len("corruption"), *(len(n) for n in table)) + 2
    lines = [f"{'corruption':<{width}}" + "".join(f"{f'sev {s}':>8}" for s in severities) + f"{'mean':>8}"]
    for name, row in table.items():
        cells = "".join(f"{row[s]:>8.3f}" if s in row else f"{'–':>8}" for s in severities)
        lines.append(f"{name:<{width}}{cells}{sum(row.values()) / len(row):>8.3f}")
    rpc = "–" if result.rpc is None else f"{100 * result.rpc:.1f}%"
    lines.append(f"clean mAP50-95 {result.map50_95:.3f}   mPC {result.mpc:.3f}   rPC {rpc}   "
                 f"({len(result.scores) + 1} scoring passes in {result.seconds:.0f} s)")
    return "\n".join(lines)


def corruption_request(corruption: str, severity: str, seed: int) -> CorruptionRequest:
    """The ``--corruption``/``--severity``/``--seed`` strings, parsed and checked (UserError)."""
    from yololab.eval.request import CorruptionRequest

    if seed < 0:
        raise UserError(f"--seed {seed}: the corruptions need a non-negative seed")
    return CorruptionRequest(parse_corruptions(corruption), parse_severities(severity), seed)


def run_val_corruption(request: ValRequest, model: ValModel, split: DataSplit, device: Any) -> int:
    """``yololab val --corruption ...``: score, print the table, write ``--json``."""
    from yololab.jsonfile import write_json

    run, rob = request.model, request.robustness
    result = score_corrupted(model, split, rob.corruptions, rob.severities, seed=rob.seed, settings=run.settings,
                             device=device, progress=True)
    print(format_robustness(result))
    if request.outputs.json:
        out = result.as_dict()
        out.update(weights=str(run.weights), data=str(run.data), split=run.split, imgsz=run.settings.image_size,
                   conf=run.settings.conf_thres, iou=run.settings.iou_thres)
        write_json(request.outputs.json, out)
    return 0
