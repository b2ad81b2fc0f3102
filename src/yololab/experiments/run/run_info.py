"""experiment.yaml (the resolved spec) and run.json (commands, executor, versions, devices) of a comparison."""

from __future__ import annotations

import sys
import time

import yaml

from yololab.atomic import atomic_write_text
from yololab.experiments.results.environment import environment
from yololab.experiments.plan.comparison_plan import ComparisonPlan
from yololab.experiments.plan.run_settings import RunSettings
from yololab.jsonfile import read_json_if_present, write_json


def write_run_info(plan: ComparisonPlan, settings: RunSettings) -> None:
    """Write both files for the report; run.json keeps the first command and start time of the folder."""
    out, spec, command = plan.out, plan.spec, settings.command
    atomic_write_text(out / "experiment.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False), out)
    previous = read_json_if_present(out / "run.json") or {}
    info = {"command": previous.get("command") or command or "run_compare(...) from Python",  # the first one
            "executor": plan.executor, "devices": spec.devices, "environment": environment(),
            "started": previous.get("started") or time.strftime("%Y-%m-%d %H:%M:%S"),
            "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "argv": sys.argv, "commands": [*previous.get("commands", []), command] if command else
            previous.get("commands", [])}
    write_json(out / "run.json", info)
