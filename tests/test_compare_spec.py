"""ExperimentSpec: strict YAML keys, per-backbone entries, cell expansion, devices, CLI flags."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from yololab.config import ConfigError
from yololab.experiments.plan.spec import (
    BackboneEntry,
    ExperimentSpec,
    expand_cells,
    load_spec,
    parse_devices,
    spec_from_mapping,
)


def write(tmp_path, values: dict):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


BASE = {"data": "data.yaml", "models": ["yolov5n"], "backbones": ["native", "resnet50"], "seeds": [0]}


def test_misspelt_top_level_key_is_named_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_spec(write(tmp_path, {**BASE, "epoch": 3}))
    assert "'epoch'" in str(err.value) and "did you mean 'epochs'" in str(err.value)


def test_misspelt_backbone_entry_key_is_named(tmp_path):
    spec = {**BASE, "backbones": [{"name": "resnet50", "pretrianed": True}]}
    with pytest.raises(ConfigError) as err:
        load_spec(write(tmp_path, spec))
    assert "backbones[0]" in str(err.value) and "'pretrianed'" in str(err.value) and "pretrained" in str(err.value)


@pytest.mark.parametrize("values, needle", [
    ({"hyp": {"lr": 0.1}}, "hyp: unknown key(s) 'lr'"),
    ({"hyp": {"lr0": "0.1"}}, "hyp: lr0: expected float, got str '0.1'"),
    ({"epochs": "10"}, "epochs: expected int, got str '10'"),
    ({"train": {"cos_lr": "yes"}}, "train: cos_lr: expected bool, got str 'yes'"),
    ({"augment": {"mosiac": 0.5}}, "did you mean 'mosaic'"),
    ({"train": {"cos_lrr": True}}, "did you mean 'cos_lr'"),
    ({"train": {"epochs": 3}}, "'epochs' is set by the experiment"),
    ({"models": ["yolov9"]}, "unknown model 'yolov9'"),
    ({"backbones": ["resnet5O"]}, "unknown backbone 'resnet5O'"),
    ({"backbones": ["resnet50", "resnet50"]}, "distinct 'label'"),
    ({"seeds": [0, 0]}, "distinct integers"),
    ({"imgsz": 100}, "multiple of 32"),
    ({"latency_backends": ["tensorrt"]}, "latency_backends"),
    ({"data": ""}, "'data'"),
])
def test_bad_values_are_rejected_with_the_key_named(values, needle):
    with pytest.raises(ConfigError, match=None) as err:
        spec_from_mapping({**BASE, **values})
    assert needle in str(err.value)


def test_cells_are_models_x_backbones_x_seeds_with_per_backbone_settings(tmp_path):
    spec = load_spec(write(tmp_path, {
        **BASE, "models": ["yolov5n", "yolov7-tiny"], "seeds": [0, 1],
        "backbones": ["native", {"name": "timm:resnet18", "pretrained": False, "freeze": 2,
                                 "backbone_lr_mult": 0.1, "label": "r18-frozen"}]}))
    cells = expand_cells(spec)
    assert len(cells) == 2 * 2 * 2
    assert [c.cell_id for c in cells[:4]] == ["yolov5n_cspdarknet_s0", "yolov5n_cspdarknet_s1",
                                              "yolov5n_r18-frozen_s0", "yolov5n_r18-frozen_s1"]
    assert cells[4].cell_id == "yolov7-tiny_elan_s0" and cells[4].backbone_arg is None  # native: upstream-exact
    frozen = cells[2]
    assert frozen.backbone == BackboneEntry("timm:resnet18", False, 2, 0.1, "r18-frozen")
    assert frozen.backbone_arg == "timm:resnet18" and frozen.group == ("yolov5n", "r18-frozen")


def test_cell_train_config_differs_only_in_the_backbone_entry_and_seed(tmp_path):
    from yololab.experiments.plan.comparison_plan import cell_train_config

    spec = spec_from_mapping({**BASE, "backbones": ["native", {"name": "resnet50", "freeze": 1}], "seeds": [0, 1],
                              "epochs": 7, "hyp": {"lr0": 0.02}, "train": {"cos_lr": True}})
    configs = [cell_train_config(spec, c, tmp_path / c.cell_id) for c in expand_cells(spec)]
    assert {c.epochs for c in configs} == {7} and all(c.cos_lr and c.hyp.lr0 == 0.02 for c in configs)
    assert all(c.hyp.momentum == 0.937 and c.augment.mosaic == 1.0 for c in configs)  # typed, defaults kept
    assert [(c.backbone, c.freeze, c.seed) for c in configs] == [(None, 0, 0), (None, 0, 1),
                                                                  ("resnet50", 1, 0), ("resnet50", 1, 1)]


def test_spec_round_trips_through_yaml(tmp_path):
    spec = spec_from_mapping({**BASE, "backbones": ["native", {"name": "resnet50", "pretrained": True}]})
    again = load_spec(write(tmp_path, spec.to_dict()))
    assert again == spec


def test_devices():
    assert parse_devices("0,1,2,3") == ["0", "1", "2", "3"]
    assert parse_devices("cpu*2") == parse_devices("cpu,cpu") == ["cpu", "cpu"]
    assert parse_devices(None) == ["cpu"] and parse_devices("cuda:1") == ["1"]
    with pytest.raises(ConfigError):
        parse_devices("gpu0")
    assert ExperimentSpec(data="d", devices="0,1").devices == ("0", "1")


def test_cli_flags_build_the_same_spec_as_yaml(tmp_path):
    from yololab.cli import build_parser
    from yololab.experiments.cli import spec_values

    args = build_parser().parse_args(["compare", "--data", "data.yaml", "--models", "yolov5n", "--backbones",
                                      "native,resnet50", "--seeds", "0", "--epochs", "3", "--imgsz", "320",
                                      "--out", str(tmp_path)])
    assert spec_from_mapping(spec_values(args)) == spec_from_mapping({**BASE, "epochs": 3, "imgsz": 320})
    config = write(tmp_path, {**BASE, "epochs": 50})
    args = build_parser().parse_args(["compare", "--config", str(config), "--epochs", "2", "--out", str(tmp_path)])
    assert spec_from_mapping(spec_values(args)).epochs == 2  # a flag overrides the YAML


def test_init_column_names_a_whole_model_checkpoint():
    from yololab.experiments.plan.cell_config import init_label

    spec = spec_from_mapping({**BASE, "backbones": ["native", {"name": "resnet50", "pretrained": "r50.pth"}],
                              "train": {"weights": "ckpt/yolov5n.pt"}})
    native, r50 = [c for c in expand_cells(spec)]
    assert init_label(native) == "scratch" and init_label(r50) == "r50.pth"
    assert init_label(native, spec.train["weights"]) == "yolov5n.pt"
    assert init_label(r50, spec.train["weights"]) == "yolov5n.pt + backbone r50.pth"


def test_cache_and_cells_per_device_are_checked_and_reach_every_cell(tmp_path):
    from yololab.experiments.plan.comparison_plan import cell_train_config

    spec = load_spec(write(tmp_path, BASE))
    assert spec.cache == "auto" and spec.cells_per_device == "auto"
    cfg = cell_train_config(spec, expand_cells(spec)[0], tmp_path / "c", concurrent=3)
    assert cfg.cache == "auto" and cfg.cache_processes == 3
    spec = load_spec(write(tmp_path, {**BASE, "cache": "disk", "cells_per_device": 2}))
    assert cell_train_config(spec, expand_cells(spec)[0], tmp_path / "c").cache == "disk"
    with pytest.raises(ConfigError, match="cache: expected one of 'auto', 'ram', 'disk', 'none', got 'gpu'"):
        load_spec(write(tmp_path, {**BASE, "cache": "gpu"}))
    with pytest.raises(ConfigError, match="cells_per_device must be 'auto' or an integer >= 1"):
        load_spec(write(tmp_path, {**BASE, "cells_per_device": 0}))
    with pytest.raises(ConfigError, match="'cache' is set by the experiment"):
        load_spec(write(tmp_path, {**BASE, "train": {"cache": "ram"}}))


def test_cells_per_device_auto_packs_what_fits_and_is_one_on_cpu(tmp_path):
    from yololab.experiments.plan import packing
    from yololab.experiments.plan.comparison_plan import cell_train_config

    def with_devices(values, devices):
        return dataclasses.replace(load_spec(write(tmp_path, values)), devices=devices)

    configs = [cell_train_config(with_devices(BASE, ["0"]), c, tmp_path / c.cell_id)
               for c in expand_cells(with_devices(BASE, ["0"]))]
    gib = 2**30
    assert packing.resolve_cells_per_device(with_devices(BASE, ["cpu"]), configs) == 1
    spec = with_devices(BASE, ["0"])
    fit = packing.resolve_cells_per_device(spec, configs, measure=lambda c, d: 4 * gib, free=lambda d: 30 * gib)
    assert fit == 6  # 30 GB free / (4 GB x 1.25 margin)
    assert packing.resolve_cells_per_device(spec, configs, measure=lambda c, d: 1, free=lambda d: 140 * gib) == 8

    def broken(c, d):
        raise RuntimeError("no CUDA")

    assert packing.resolve_cells_per_device(spec, configs, measure=broken) == 1
    spec = with_devices({**BASE, "cells_per_device": 3}, ["0", "1"])
    assert packing.resolve_cells_per_device(spec, configs) == 3
    assert packing.expand_devices(["0", "1"], 2) == ["0", "0", "1", "1"]


def test_plan_looks_each_model_up_once_and_resolves_every_cell(tmp_path, monkeypatch):
    """The spec resolves once: one zoo look-up per model, each cell's TrainConfig and folder in the plan."""
    import yololab.models.zoo as zoo
    from yololab.experiments.plan.comparison_plan import cell_train_config
    from yololab.experiments.plan.comparison_plan import resolve_plan
    from yololab.experiments.plan.run_settings import RunSettings

    spec = spec_from_mapping({**BASE, "models": ["YOLOv5n", "yolov7_tiny"], "seeds": [0, 1]})
    looked_up = []
    real = zoo.get_variant
    monkeypatch.setattr(zoo, "get_variant", lambda name: looked_up.append(name) or real(name))
    plan = resolve_plan(spec, tmp_path / "out", RunSettings(devices="cpu"))
    assert sorted(looked_up) == ["YOLOv5n", "yolov7_tiny"]
    assert [c.cell for c in plan.cells] == expand_cells(spec) and len(plan.cells) == 8
    for resolved in plan.cells:
        assert resolved.variant.name == resolved.cell.model
        assert resolved.paths.root == tmp_path / "out" / "cells" / resolved.cell_id
        assert resolved.config == cell_train_config(plan.spec, resolved.cell, resolved.paths.root)
    moved = plan.cells[0].moved_to(tmp_path / "node")
    assert moved.config.out == str(moved.paths.root) and moved.paths.root.parent.parent == tmp_path / "node"
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.cells = ()


def test_executor_registry_serves_every_executor_name(tmp_path):
    from yololab.experiments.plan.run_settings import EXECUTOR_NAMES, RunSettings
    from yololab.experiments.pool import POOLS

    assert tuple(POOLS) == EXECUTOR_NAMES
    with pytest.raises(ConfigError, match="unknown executor 'slurm'; choose from local, process, ray"):
        RunSettings(executor="slurm")


def test_resolve_plan_makes_the_spec_once_from_a_mapping_a_yaml_or_a_spec(tmp_path, monkeypatch):
    """One entry point: the same frozen plan from the CLI's mapping, a YAML file or an ExperimentSpec; the
    spec is checked once and made with its data path resolved and --devices in place; the caller's spec is
    left as it was and nothing can change the plan's."""
    import yololab.experiments.plan.comparison_plan as comparison_plan
    from yololab.experiments.plan.comparison_plan import resolve_plan
    from yololab.experiments.plan.run_settings import RunSettings

    monkeypatch.chdir(tmp_path)
    values = {**BASE, "seeds": [0, 1], "cells_per_device": 2, "devices": "0",
              "tune": {"trials": 2, "space": {"lr0": {"low": 0.001, "high": 0.01}}}}
    checks = []
    real = comparison_plan.validate_spec
    monkeypatch.setattr(comparison_plan, "validate_spec", lambda spec, name: checks.append(name) or real(spec, name))
    settings = RunSettings(devices="cpu")
    from_mapping = resolve_plan(values, tmp_path / "out", settings, source_name="exp.yaml")
    assert checks == ["exp.yaml"]  # checked once, named as the CLI names it
    given = ExperimentSpec(**{**values, "backbones": list(values["backbones"])})
    plans = [from_mapping, resolve_plan(write(tmp_path, values), tmp_path / "out", settings),
             resolve_plan(given, tmp_path / "out", settings)]
    assert all(p == from_mapping for p in plans[1:])
    spec = from_mapping.spec
    assert spec.data == str(tmp_path / "data.yaml") and spec.devices == ("cpu", "cpu")  # --devices, packed 2 per device
    assert given.data == "data.yaml" and given.devices == ("0",)  # the caller's spec is not rewritten
    assert [(c.model, c.label, c.seed) for c in from_mapping.tuning_cells] == [("yolov5n", "cspdarknet", 0),
                                                                              ("yolov5n", "resnet50", 0)]
    for frozen in (spec, spec.backbones[0], spec.hyp, spec.tune, from_mapping):
        with pytest.raises(dataclasses.FrozenInstanceError):
            frozen.name = "other"
    written = resolve_plan(write(tmp_path, spec.to_dict()), tmp_path / "out", run=False)  # --report-only
    assert written.spec == spec and written.spec.devices == ("cpu", "cpu")  # as the folder's experiment.yaml says
    with pytest.raises(ConfigError, match="CUDA device"):
        resolve_plan(values, tmp_path / "out", RunSettings(devices="7"))
