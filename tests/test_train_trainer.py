"""The training loop: checkpoints (weights-only, atomic, loadable), exact resume, NaN stop, config resolution.

Tiny synthetic data at 64 px keeps each run to a few seconds; the "it learns" test is in
test_train_trainer_learns.py.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

import pytest
import torch
from fixtures import train_cfg

from yololab.cli import main
from yololab.config import load_yaml_config
from yololab.models.checkpoints import load_model
from yololab.train.config import TrainConfig
from yololab.train.results import EarlyStopping, fitness
from yololab.train.trainer import NonFiniteLossError, train


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


# conftest's tiny_data: 4 train / 2 val images of two classes
TINY_DATA = {"num_val": 2, "classes": ("square", "circle"), "max_objects": 2, "seed": 0}
_cfg = functools.partial(train_cfg, epochs=2, hyp={"lr0": 0.02}, seed=3)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_epoch_run(tiny_data: Path, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run2")
    return out, train(_cfg(tiny_data, out, plots=True))


def test_run_writes_weights_only_checkpoints_and_reports(two_epoch_run) -> None:
    out, summary = two_epoch_run
    last, best = out / "weights" / "last.pt", out / "weights" / "best.pt"
    assert summary.last == str(last) and summary.best == str(best)
    assert summary.epochs_run == 2 and summary.images_per_second > 0 and summary.peak_memory_mb > 0
    assert summary.train_seconds > 0 and set(summary.final_metrics) >= {"map50_95", "map50", "map75"}
    assert not list((out / "weights").glob("*.tmp")) and not list((out / "weights").glob(".*"))
    for path in (last, best):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)  # plain dicts and tensors only
        for key in ("spec", "state_dict", "model_state", "optimizer", "scheduler", "ema_updates", "epoch",
                    "best_fitness", "rng", "train_config"):
            assert key in ckpt, key
        assert ckpt["spec"]["names"] == ["square", "circle"]
    assert torch.load(last, weights_only=True)["epoch"] == 1
    model = load_model(best)
    assert model.names == ["square", "circle"] and model.head.num_classes == 2
    rows = _rows(out / "results.csv")
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert {"train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/map50", "metrics/map50_95",
            "metrics/map75", "lr/bias", "lr/decay", "lr/no_decay", "epoch_seconds"} <= set(rows[0])
    assert load_yaml_config(TrainConfig, out / "config.yaml").epochs == 2
    report = json.loads((out / "data_report.json").read_text())
    assert report["train"]["images"] == 4 and report["val"]["images"] == 2
    assert (out / "results.png").stat().st_size > 1000


def test_resume_continues_exactly(two_epoch_run, tiny_data: Path, tmp_path: Path, caplog) -> None:
    """1 epoch, then resume to 2: same weights, EMA, optimizer state and losses as 2 epochs in one go."""
    out, _ = two_epoch_run
    train(_cfg(tiny_data, tmp_path, epochs=1))
    first = torch.load(tmp_path / "weights" / "last.pt", weights_only=True)
    assert first["epoch"] == 0
    with caplog.at_level("INFO", logger="yololab"):
        summary = train(_cfg(tiny_data, tmp_path, epochs=2, resume=True))
    assert summary.epochs_run == 1
    assert "resumed at epoch 1 of 2" in caplog.text
    resumed = torch.load(tmp_path / "weights" / "last.pt", weights_only=True)
    straight = torch.load(out / "weights" / "last.pt", weights_only=True)
    assert resumed["epoch"] == straight["epoch"] == 1
    assert resumed["ema_updates"] == straight["ema_updates"] > first["ema_updates"]
    for key in ("model_state", "state_dict"):
        for name, value in straight[key].items():
            torch.testing.assert_close(resumed[key][name], value, rtol=1e-5, atol=1e-6, msg=f"{key}.{name}")
    momentum = {k: v["momentum_buffer"] for k, v in straight["optimizer"]["state"].items()}
    for k, v in momentum.items():
        torch.testing.assert_close(resumed["optimizer"]["state"][k]["momentum_buffer"], v, rtol=1e-5, atol=1e-6)
    rows_resumed, rows_straight = _rows(tmp_path / "results.csv"), _rows(out / "results.csv")
    assert [r["epoch"] for r in rows_resumed] == ["0", "1"]
    for a, b in zip(rows_resumed, rows_straight):
        assert a["train/box_loss"] == b["train/box_loss"] and a["lr/decay"] == b["lr/decay"]

    with pytest.raises(ValueError, match="nothing to resume"):
        train(_cfg(tiny_data, tmp_path, epochs=2, resume=True))


def test_nan_loss_stops_with_a_clear_message(tiny_data: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from yololab.train import loss as loss_module

    real_forward = loss_module.YOLOLoss.forward
    calls = {"n": 0}

    def flaky(self, preds, targets):
        total, items = real_forward(self, preds, targets)
        calls["n"] += 1
        return (total * float("nan"), items) if calls["n"] == 2 else (total, items)

    monkeypatch.setattr(loss_module.YOLOLoss, "forward", flaky)
    with pytest.raises(NonFiniteLossError) as info:
        train(_cfg(tiny_data, tmp_path / "api", epochs=1))
    message = str(info.value)
    assert "loss is nan at epoch 0, batch 1 of 2" in message and "train_0000" in message and ".jpg" in message

    calls["n"] = 0
    code = main(["train", "--model", "yolov5n", "--data", str(tiny_data), "--epochs", "1", "--imgsz", "64",
                 "--batch", "2", "--workers", "0", "--out", str(tmp_path / "cli"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "yololab train: error: loss is nan at epoch 0, batch 1" in err and "Traceback" not in err


def test_config_file_flags_and_hyp_file(tmp_path: Path) -> None:
    import argparse

    from yololab.cli import build_parser
    from yololab.train.cli import resolve_train_config

    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("model: yolov5s\nepochs: 7\nbatch: 8\ncos_lr: true\nhyp: {lr0: 0.03}\n")
    hyp_yaml = tmp_path / "hyp.yaml"
    hyp_yaml.write_text("lr0: 0.05\nmomentum: 0.9\nmosaic: 0.5\ncopy_paste: 0.0\n")
    args = build_parser().parse_args(["train", "--config", str(run_yaml), "--epochs", "3", "--freeze", "2",
                                      "--hyp", str(hyp_yaml), "--pretrained-backbone", "bb.pth", "--no-amp"])
    assert isinstance(args, argparse.Namespace)
    cfg = resolve_train_config(args)
    assert (cfg.model, cfg.epochs, cfg.batch, cfg.cos_lr, cfg.freeze) == ("yolov5s", 3, 8, True, 2)
    assert (cfg.hyp.lr0, cfg.hyp.momentum, cfg.hyp.lrf) == (0.05, 0.9, 0.01)  # file < --hyp; defaults kept
    assert cfg.augment.mosaic == 0.5 and cfg.augment.fliplr == 0.5
    assert cfg.pretrained_backbone == "bb.pth" and cfg.amp is False and cfg.imgsz == 640

    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 3\n")
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        resolve_train_config(build_parser().parse_args(["train", "--config", str(bad)]))


def test_early_stopping_and_fitness() -> None:
    assert fitness({"map50": 0.5, "map50_95": 0.3}) == pytest.approx(0.32)
    stopper = EarlyStopping(patience=2)
    assert [stopper(e, f) for e, f in enumerate([0.1, 0.2, 0.15, 0.19, 0.3])] == [False, False, False, True, False]
    assert EarlyStopping(patience=0)(50, 0.0) is False  # 0 disables it


def test_weights_init_new_classes_freeze_and_backbone_lr(yolov5n_pt: Path, tiny_data: Path, tmp_path: Path,
                                                         caplog) -> None:
    """--weights with another class count re-initialises the head; frozen stages keep the imported weights."""
    with caplog.at_level("INFO", logger="yololab"):
        summary = train(_cfg(tiny_data, tmp_path, epochs=1, weights=str(yolov5n_pt), freeze=2,
                             backbone_lr_mult=0.1))
    assert "re-initialised" in caplog.text and "froze the first 2 backbone stages" in caplog.text
    ckpt = torch.load(summary.last, weights_only=True)
    assert ckpt["spec"]["num_classes"] == 2 and ckpt["spec"]["names"] == ["square", "circle"]
    imported = load_model(yolov5n_pt).state_dict()
    trained = ckpt["model_state"]
    frozen = [k for k in trained if k.startswith(("backbone.stem.", "backbone.stage2."))]
    assert frozen and all(torch.equal(trained[k], imported[k]) for k in frozen if k in imported)
    later = [k for k in trained if k.startswith("backbone.stage4.") and k.endswith("conv.weight")]
    assert later and not all(torch.equal(trained[k], imported[k]) for k in later)
    header = _rows(tmp_path / "results.csv")[0]
    assert "lr/backbone.decay" in header
    assert float(header["lr/backbone.decay"]) == pytest.approx(0.1 * float(header["lr/decay"]), rel=1e-3)
