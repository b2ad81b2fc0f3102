"""``yololab compare`` and ``yololab demo``: argument parsers and handlers (registered by yololab.cli)."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from yololab.errors import ConfigError
from yololab.experiments.plan.run_settings import EXECUTOR_NAMES, ExecutorName

if TYPE_CHECKING:
    from yololab.experiments.plan.comparison_plan import SpecFile
    from yololab.train.contract import Trainer

# compare flags that build (or override) the experiment spec: flag dest -> spec key
_SPEC_FLAGS = {"name": "name", "data": "data", "models": "models", "backbones": "backbones", "seeds": "seeds",
               "epochs": "epochs", "imgsz": "imgsz", "batch": "batch", "workers": "workers",
               "eval_imgsz": "eval_imgsz", "latency_runs": "latency_runs"}


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(text: str) -> list[int]:
    return [int(part) for part in _csv(text)]


def command_line(args: argparse.Namespace, order: list[str]) -> str:
    """The command as typed (rebuilt from the parsed options, so it is exact for the report)."""
    words = ["yololab", args.command]
    for dest in order:
        value = getattr(args, dest, None)
        if value is None or value is False or (dest == "executor" and value == "process"):
            continue  # not given (or the default executor)
        flag = "--" + dest.replace("_", "-")
        if value is True:
            words.append(flag)
        else:
            words += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return shlex.join(words)


def flag_values(args: argparse.Namespace) -> dict:
    """The spec keys given as flags on the command line (each in place of the experiment file's own)."""
    return {key: getattr(args, dest) for dest, key in _SPEC_FLAGS.items() if getattr(args, dest) is not None}


def spec_values(args: argparse.Namespace) -> dict:
    """The experiment mapping: --config's YAML, then any spec flag given on the command line."""
    from yololab.config import read_yaml_mapping

    values: dict = {}
    if args.config:
        values = read_yaml_mapping(args.config, "--config")
    values.update(flag_values(args))
    if getattr(args, "columns", None):
        values["table"] = {**(values.get("table") or {}), "columns": args.columns}
    for dest, key in (("tune_trials", "trials"), ("tune_epochs", "epochs")):
        value = getattr(args, dest, None)
        if value is not None:  # the common case: over DEFAULT_SPACE unless the file names a space
            from yololab.experiments.plan.tune_space import DEFAULT_SPACE

            tune = values.setdefault("tune", {}) or {}
            tune.setdefault("space", DEFAULT_SPACE)
            tune[key] = value
            values["tune"] = tune
    return values


def _trainer(dry_run: bool):
    """The dry-run stand-in with --dry-run, else yololab's trainer (both picklable module-level functions)."""
    from yololab.experiments.plan.trainers import default_trainer
    from yololab.experiments.run import dryrun

    return dryrun.train if dry_run else default_trainer


def _report_only_across(across, args: argparse.Namespace) -> int:
    """--report-only on a comparison over several data sets: each data set's report, then the pooled one."""
    from yololab.experiments.across.writer import write_across_report
    from yololab.experiments.report.writer import write_report

    for dataset, spec in across.pairs():
        write_report(spec, Path(args.out) / "datasets" / dataset.name, chosen=args.columns)
    paths = write_across_report(across, args.out)
    print(f"report: {paths['html']}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from yololab.experiments.across.run import load_across, run_across
    from yololab.experiments.across.spec import across_from_mapping
    from yololab.experiments.compare import run_compare
    from yololab.experiments.report.writer import write_report
    from yololab.experiments.plan.comparison_plan import resolve_plan
    from yololab.experiments.results.records_io import refuse_unknown_results
    from yololab.experiments.plan.run_settings import RunSettings

    refuse_unknown_results(Path(args.out) / "results.json")  # written by a newer yololab: not overwritten
    if args.report_only:
        spec_path = Path(args.out) / "experiment.yaml"
        if not spec_path.is_file():
            raise ConfigError(f"--report-only: {spec_path} not found: is {args.out} a comparison folder?")
        across = load_across(args.out)
        if across is not None:
            return _report_only_across(across, args)
        plan = resolve_plan(spec_path, args.out, run=False)
        paths = write_report(plan.spec, plan.out, chosen=args.columns)
        print(f"report: {paths['html']}")
        return 0
    if args.retime and not args.config and not args.data:  # the folder's own spec
        args.config = str(Path(args.out) / "experiment.yaml")
    if args.retime:
        for bench in Path(args.out).glob("cells/*/bench.json"):
            bench.unlink()
    if not args.config and not args.data:
        raise ConfigError("give --config exp.yaml or at least --data (and --models/--backbones)")
    values = spec_values(args)
    settings = RunSettings(
        executor=args.executor, devices=args.devices,
        train_fn=_trainer(args.dry_run),
        command=command_line(args, COMPARE_ORDER), progress=not args.no_progress,
        ray_shared_fs=args.ray_shared_fs, ray_work_dir=args.ray_work_dir)
    across = across_from_mapping(values, args.config or "command line")
    if across is not None:
        done = run_across(across, args.out, settings)
        print((Path(args.out) / "across.md").read_text())
        print(f"report: {done.report['html']}")
        return 0 if not done.failed else 1
    result = run_compare(values, args.out, settings, args.config or "command line")
    print((Path(args.out) / "results.md").read_text())
    print(f"report: {result.report.get('html')}")
    return 0 if not result.failed else 1


@dataclass(frozen=True)
class TuneRequest:
    """What ``yololab tune`` was asked, read once from the command line: the experiment file with the spec keys
    given as flags (read once, where the plan is made), what errors call it, the folder, the executor, the
    device entries and the trainer."""

    spec_file: SpecFile
    source: str
    out: Path
    executor: ExecutorName
    devices: str | None
    trainer: Trainer

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TuneRequest:
        from yololab.experiments.plan.comparison_plan import SpecFile

        spec_file = SpecFile(Path(args.config), "--config", MappingProxyType(flag_values(args)))
        return cls(spec_file, args.config, Path(args.out), args.executor, args.devices, _trainer(args.dry_run))


def cmd_tune(args: argparse.Namespace) -> int:
    """Only the studies of an experiment's ``tune:`` section; prints each entry's chosen values."""
    from yololab.experiments.plan.comparison_plan import resolve_plan
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.tuning.apply import values_text
    from yololab.experiments.tuning.study import run_tuning

    request = TuneRequest.from_args(args)  # the command line is read here, once
    plan = resolve_plan(request.spec_file, request.out, RunSettings(executor=request.executor, devices=request.devices),
                        source_name=request.source)
    spec = plan.spec
    if spec.tune is None:
        raise ConfigError(f"{request.source} has no 'tune:' section")
    result = run_tuning(plan, request.trainer)
    print(f"study storage: {result.storage}")
    for s in result.studies:
        best = "–" if s.best_value is None else f"{100 * s.best_value:.2f}"
        print(f"{s.key.model} {s.key.label}: {s.finished}/{s.budget} trials ({s.count('pruned')} pruned, "
              f"{s.count('failed')} failed, {s.seconds / 60:.1f} min); best trial {s.best_number} val "
              f"{spec.tune.objective} {best}: {values_text(s.params) or '–'}")
    return 0 if all(s.finished >= s.budget for s in result.studies) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from yololab.experiments.demo import QUICK, run_demo
    from yololab.experiments.demo_estimate import minutes

    started = time.perf_counter()
    result = run_demo(args.out, QUICK if args.quick else None, executor=args.executor, devices=args.devices,
                      command=command_line(args, DEMO_ORDER))
    print((Path(args.out) / "results.md").read_text())
    print(f"report: {result.report.get('html')}")
    print(f"demo: done in {minutes(time.perf_counter() - started)}"
          + (f", {len(result.failed)} cell(s) not finished" if result.failed else ""))
    return 0 if not result.failed else 1


COMPARE_ORDER = ["config", *_SPEC_FLAGS, "columns", "tune_trials", "tune_epochs", "out", "executor", "ray_shared_fs", "ray_work_dir", "devices", "dry_run", "report_only",
                 "retime"]
DEMO_ORDER = ["out", "quick", "executor", "devices"]


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="train and compare models x backbones x seeds; tables, plots, report.html",
                       description="Each model x backbone x seed cell is trained with the same settings, then "
                                   "scored (mAP, params, GFLOPs, latency) into results.{csv,json,md,tex}, plots "
                                   "and report.html. Re-running the same command skips finished cells and "
                                   "resumes interrupted ones.")
    p.add_argument("--config", help="experiment YAML (keys of yololab.experiments.ExperimentSpec)")
    p.add_argument("--out", required=True, help="comparison folder (cells/, results.*, report.html)")
    p.add_argument("--name", help="experiment name")
    p.add_argument("--data", help="data YAML (YOLO format)")
    p.add_argument("--models", type=_csv, help="comma-separated, e.g. yolov5n,yolov5s")
    p.add_argument("--backbones", type=_csv, help="comma-separated, e.g. native,resnet50,hgnetv2_b0,timm:resnet18 "
                                                  "('native' = the family's own)")
    p.add_argument("--seeds", type=_ints, help="comma-separated, e.g. 0,1,2")
    p.add_argument("--epochs", type=int)
    p.add_argument("--imgsz", "--img-size", "--img", dest="imgsz", type=int, help="training image size")
    p.add_argument("--batch", type=int)
    p.add_argument("--workers", type=int, help="data-loader workers per cell")
    p.add_argument("--eval-imgsz", type=int, help="size for mAP, GFLOPs and latency (default: --imgsz)")
    p.add_argument("--latency-runs", type=int, help="timed runs per latency backend (median reported)")
    p.add_argument("--tune-trials", type=int, help="tune every entry first with this many trials (the tune: "
                                                   "section's space, else lr0, weight_decay, backbone_lr_mult)")
    p.add_argument("--tune-epochs", type=int, help="epochs per tuning trial (with --tune-trials)")
    p.add_argument("--executor", choices=EXECUTOR_NAMES, default="process",
                   help="process (default): a fresh process per cell, one cell at a time per --devices entry; "
                        "local: every cell in this process (debugging); ray: Ray tasks (pip install ray), each in "
                        "a node-local folder (--ray-work-dir, else the node's temp folder), its files sent back "
                        "into --out; every node needs the data at the same path as here")
    p.add_argument("--ray-shared-fs", action="store_true", help="with --executor ray: every node sees --out at the "
                                                                "same path; cells write there directly")
    p.add_argument("--ray-work-dir", default=None, metavar="DIR",
                   help="with --executor ray: where each node runs its cells (default: the node's temp folder)")
    p.add_argument("--devices", help="'auto' (default: GPU 0 if available, else cpu), '0,1,2,3' (one cell per GPU), 'cpu,cpu' or 'cpu*2' "
                                     "(two CPU workers)")
    p.add_argument("--dry-run", action="store_true", help="build and save untrained models instead of training: "
                                                          "checks the spec, the cells and the report in seconds")
    p.add_argument("--columns", type=_csv, metavar="NAMES",
                   help="main table columns, comma-separated (default: model,backbone,init,seeds,params,gflops,"
                        "latency,map50_95,map50,delta; also p, map75, map_small, backbone_params, train_seconds...); "
                        "results_full.tex always has every column")
    p.add_argument("--report-only", action="store_true", help="only rewrite the tables/plots/report from --out")
    p.add_argument("--retime", action="store_true", help="measure every cell's latency again (e.g. on an idle "
                                                          "machine), then rewrite the report; nothing is retrained")
    p.add_argument("--no-progress", action="store_true", help="no per-batch progress bars")
    p.set_defaults(func=cmd_compare)


def add_tune_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="run only the tuning studies of an experiment's tune: section",
                       description="Every model x backbone entry gets the same number of trials (tune.trials) "
                                   "on train/val; the study lives in --out/tuning/study.db (or tune.storage) and "
                                   "re-running continues it. `yololab compare` with the same --out reuses it.")
    p.add_argument("--config", required=True, help="experiment YAML with a tune: section")
    p.add_argument("--out", required=True, help="comparison folder (the study goes into its tuning/)")
    for dest in ("name", "data"):
        p.add_argument(f"--{dest}")
    p.add_argument("--models", type=_csv)
    p.add_argument("--backbones", type=_csv)
    p.add_argument("--seeds", type=_ints)
    for dest in ("epochs", "imgsz", "batch", "workers", "eval_imgsz", "latency_runs"):
        p.add_argument(f"--{dest.replace('_', '-')}", type=int)
    p.add_argument("--executor", choices=EXECUTOR_NAMES, default="process")
    p.add_argument("--devices", help="as for compare: one trial per device entry")
    p.add_argument("--dry-run", action="store_true", help="untrained models (checks the plumbing in seconds)")
    p.set_defaults(func=cmd_tune)


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="offline demo: synthetic data, YOLOv5n x 3 backbones, full report (~5 CPU min)")
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--quick", action="store_true", help="seconds-long toy version (checks the install)")
    p.add_argument("--executor", choices=EXECUTOR_NAMES, default="process")
    p.add_argument("--devices", help="as for compare, e.g. 'cpu*2' with --executor process")
    p.set_defaults(func=cmd_demo)
