"""Tracking extras: a 2-epoch tiny run on real coco128 images leaves per-epoch map50_95 and map50 in a
TensorBoard event file (read back with EventAccumulator) and in a real local MLflow file store."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import require_module


@pytest.fixture(scope="module")
def tracked_run(coco128_mini: Path, tmp_path_factory, one_thread):
    require_module("tensorboard", "train --tensorboard")
    require_module("mlflow", "train --mlflow")
    from yololab.cli import main

    # MLflow 3 refuses file: stores unless asked (it now prefers sqlite); a file store is what we read back
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")

    tmp = tmp_path_factory.mktemp("tracked")
    out, uri = tmp / "run", (tmp / "mlruns").as_uri()
    assert main(["train", "--data", str(coco128_mini), "--model", "yolov5n", "--epochs", "2", "--imgsz", "64",
                 "--batch", "8", "--workers", "0", "--device", "cpu", "--no-progress", "--seed", "3",
                 "--out", str(out), "--tensorboard", "--tensorboard-images-every", "1",
                 "--mlflow", uri, "--mlflow-experiment", "tiny"]) == 0
    yield out, uri
    mp.undo()


def _csv_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_tensorboard_event_file_has_per_epoch_metrics_and_images(tracked_run) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _ = tracked_run
    assert list(out.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(out), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    rows = _csv_rows(out)
    for key in ("metrics/map50_95", "metrics/map50", "train/box_loss", "lr/bias"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [0, 1], key
        assert [e.value for e in events] == pytest.approx([float(r[key]) for r in rows], abs=1e-5)
    tags = acc.Tags()["images"]
    assert "val_predictions/0" in tags and len(acc.Images("val_predictions/0")) == 2


def test_mlflow_file_store_has_params_metrics_and_artifacts(tracked_run) -> None:
    from mlflow.tracking import MlflowClient

    out, uri = tracked_run
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == out.name
    params = run.data.params
    assert (params["model"], params["backbone"], params["epochs"], params["seed"], params["init"]) == \
        ("yolov5n", "native", "2", "3", "scratch")
    rows = _csv_rows(out)
    for key in ("metrics/map50_95", "metrics/map50", "fitness"):
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [0, 1]
        assert [m.value for m in history] == pytest.approx([float(r[key]) for r in rows], abs=1e-5)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"best.pt", "results.csv", "results.png", "config.yaml"} <= artifacts


def test_tracking_off_by_default_and_missing_package_named(monkeypatch, tmp_path: Path) -> None:
    import sys

    from yololab.errors import UserError
    from yololab.train.config import TrainConfig
    from yololab.train.tracking import Tracking

    off = Tracking(TrainConfig(), tmp_path, ["a"])
    assert off.trackers == [] and not list(tmp_path.iterdir())
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(UserError, match=r"mlflow is not installed: pip install -e \"\.\[tracking\]\""):
        Tracking(TrainConfig(mlflow=tmp_path.as_uri()), tmp_path, ["a"])


def test_mlflow_file_store_works_without_the_mlflow3_opt_in(tmp_path: Path, monkeypatch) -> None:
    """MLflow 3 refuses ``file:`` stores unless MLFLOW_ALLOW_FILE_STORE is set: yololab sets it for them."""
    require_module("mlflow", "train --mlflow")
    from yololab.train.config import TrainConfig
    from yololab.train.tracking import Tracking, is_file_store

    assert is_file_store("file:./mlruns") and is_file_store("mlruns") and not is_file_store("sqlite:///m.db")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")   # recorded, so the variable set below is undone
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    monkeypatch.chdir(tmp_path)
    tracking = Tracking(TrainConfig(mlflow="file:./mlruns"), tmp_path / "run", ["a"])
    assert tracking.trackers and (tmp_path / "mlruns").is_dir()
