"""Issue 30, items 1-4: outputs compared with inputs by identity (not by spelling), no write in place
through a second hard link, and no command folder that is a symbolic link to somewhere else.

Each test reproduces a loss seen on the previous main (the comment says what happened there)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from yololab.atomic import UnsafePathError, append_text, open_nofollow
from yololab.cli import main
from yololab.models import build_model
from yololab.models.checkpoints import save_model

pytestmark = pytest.mark.usefixtures("one_thread")
# conftest's tiny_data: 4 train / 2 val images of two classes
TINY_DATA = {"num_val": 2, "classes": ("square", "circle"), "max_objects": 2, "seed": 0}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("w") / "w.pt"
    save_model(build_model("yolov5n", None, 2), path)
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- 1. export --out is the checkpoint
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink"])
def test_export_never_writes_over_its_checkpoint(tiny_weights: Path, tmp_path: Path, fmt: str, spelling: str,
                                                 capsys) -> None:
    # main: w.pt was replaced by the export, then the check failed (rc 2): the checkpoint was gone
    weights = shutil.copy(tiny_weights, tmp_path / "w.pt")
    before = Path(weights).read_bytes()
    out = {"same": weights, "dot": f"{tmp_path}/./w.pt", "symlink": tmp_path / "alias.pt",
           "hardlink": tmp_path / "hard.pt"}[spelling]
    if spelling == "symlink":
        os.symlink(weights, out)
    elif spelling == "hardlink":
        os.link(weights, out)
    rc = main(["export", "--weights", str(weights), "--format", fmt, "--imgsz", "64", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "refusing to write" in err and "--weights file" in err and err.count("\n") == 1
    assert Path(weights).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"w.pt", Path(out).name})  # no temporary left


# ---------------------------------------------------------------- 2. predict through converted links
def test_predict_on_converted_links_refuses_the_original_folder(tiny_data: Path, tiny_weights: Path,
                                                                tmp_path: Path, capsys) -> None:
    # main: convert links the images; predict --source <links> --out <originals> exited 0 and replaced
    # every original with its annotated copy
    converted = tmp_path / "converted"
    assert main(["convert", "--from", "yolo", "--to", "yolo", str(tiny_data), str(converted)]) == 0
    originals = tiny_data.parent / "images" / "val"
    linked = converted / "images" / "val"
    assert all(p.is_symlink() for p in linked.iterdir())
    before = _snapshot(originals)
    capsys.readouterr()
    rc = main(["predict", "--weights", str(tiny_weights), "--source", str(linked), "--out", str(originals),
               "--imgsz", "64", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and f"--out {originals} holds 2 of the input images" in err and "Traceback" not in err
    assert _snapshot(originals) == before


def test_predict_refuses_an_out_holding_a_hard_link_of_an_input(tiny_data: Path, tiny_weights: Path,
                                                                 tmp_path: Path, capsys) -> None:
    source = tiny_data.parent / "images" / "val"
    out = tmp_path / "out"
    out.mkdir()
    first = sorted(source.iterdir())[0]
    os.link(first, out / "renamed.jpg")
    rc = main(["predict", "--weights", str(tiny_weights), "--source", str(source), "--out", str(out),
               "--imgsz", "64", "--device", "cpu"])
    assert rc == 2 and "holds 1 of the input images" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["renamed.jpg"]


# ---------------------------------------------------------------- 3. hard links written in place
def test_train_lock_hard_linked_elsewhere_is_refused(tiny_data: Path, tmp_path: Path, capsys) -> None:
    # main: the outside file was truncated to the trainer's pid
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "run"
    out.mkdir()
    os.link(victim, out / ".train.lock")
    rc = main(["train", "--model", "yolov5n", "--data", str(tiny_data), "--epochs", "1", "--imgsz", "64",
               "--batch", "2", "--workers", "0", "--out", str(out), "--no-progress", "--no-plots"])
    err = capsys.readouterr().err
    assert rc == 2 and "2 hard links" in err and ".train.lock" in err and "Traceback" not in err
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in out.iterdir()) == [".train.lock"]


def test_results_csv_replaced_by_a_hard_link_between_epochs_is_not_appended_to(tmp_path: Path) -> None:
    # main: the next epoch's row was appended to the outside file
    from yololab.train.results import ResultsCSV

    victim = tmp_path / "victim.csv"
    victim.write_text("mine\n")
    out = tmp_path / "run"
    out.mkdir()
    results = ResultsCSV(out / "results.csv", ["bias"], out)
    results.start(0)
    results.append(0, [1.0, 2.0, 3.0], None, {"bias": 0.01}, 1.0)
    (out / "results.csv").unlink()
    os.link(victim, out / "results.csv")
    with pytest.raises(UnsafePathError, match="results.csv: it has 2 hard links"):
        results.append(1, [1.0, 2.0, 3.0], None, {"bias": 0.01}, 1.0)
    assert victim.read_text() == "mine\n"
    victim.unlink()  # now a single link, but still not the file the run created
    with pytest.raises(UnsafePathError, match="results.csv: it is no longer the file this run created"):
        results.append(1, [1.0, 2.0, 3.0], None, {"bias": 0.01}, 1.0)
    assert (out / "results.csv").read_text() == "mine\n"


def test_truncating_open_checks_the_link_count_before_truncating(tmp_path: Path) -> None:
    # main: O_TRUNC emptied the outside file before any check could run (the load test's server log)
    victim = tmp_path / "victim.log"
    victim.write_text("keep")
    os.link(victim, tmp_path / "server.log")
    with pytest.raises(UnsafePathError, match="server.log: it has 2 hard links"):
        open_nofollow(tmp_path / "server.log", os.O_WRONLY | os.O_TRUNC)
    with pytest.raises(UnsafePathError, match="2 hard links"):
        append_text(tmp_path / "server.log", "more")
    assert victim.read_text() == "keep"
    fd = open_nofollow(tmp_path / "fresh.log", os.O_WRONLY | os.O_TRUNC)
    os.close(fd)


# ---------------------------------------------------------------- 4. symlinked command folders
def _compare_spec(data: Path) -> dict:
    return {"name": "tiny", "data": str(data), "models": ["yolov5n"], "backbones": ["native"], "seeds": [0],
            "epochs": 1, "imgsz": 64, "batch": 2, "workers": 0, "eval_batch": 4, "latency_runs": 2,
            "latency_warmup": 1, "latency_backends": ["torch"]}


class _Trainer:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, cfg):
        from yololab.experiments.run import dryrun

        self.calls += 1
        return dryrun.train(cfg)


def test_compare_refuses_a_cell_folder_linked_elsewhere_before_training(tiny_data: Path, tmp_path: Path) -> None:
    # main: the whole cell (weights, detections, metrics) was written in the folder the link named, rc 0
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "cmp"
    (out / "cells").mkdir(parents=True)
    (out / "cells" / "yolov5n_cspdarknet_s0").symlink_to(elsewhere, target_is_directory=True)
    trainer = _Trainer()
    with pytest.raises(UnsafePathError, match="yolov5n_cspdarknet_s0: it is a symbolic link"):
        run_compare(_compare_spec(tiny_data), out, RunSettings(train_fn=trainer, bench=False, report=False))
    assert trainer.calls == 0 and not list(elsewhere.iterdir())
    assert sorted(p.name for p in out.iterdir()) == ["cells"]  # refused before protocol.json (the run's first write)


def test_report_only_refuses_a_cell_folder_linked_elsewhere(tiny_data: Path, tmp_path: Path, capsys) -> None:
    # main: --report-only wrote matches_<split>.npz through the link (its write had no root)
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings

    out = tmp_path / "cmp"
    run_compare(_compare_spec(tiny_data), out, RunSettings(train_fn=_Trainer(), bench=False, report=False))
    cell = out / "cells" / "yolov5n_cspdarknet_s0"
    elsewhere = tmp_path / "elsewhere"
    shutil.move(cell, elsewhere)
    for matches in elsewhere.glob("matches_*.npz"):
        matches.unlink()  # an older folder: the report would match once and save
    cell.symlink_to(elsewhere, target_is_directory=True)
    before = _snapshot(elsewhere)
    rc = main(["compare", "--report-only", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "it is a symbolic link" in err and "Traceback" not in err
    assert _snapshot(elsewhere) == before


def test_train_refuses_a_linked_weights_folder_before_any_epoch(tiny_data: Path, tmp_path: Path) -> None:
    # main: refused only when the first epoch's last.pt was saved (after an epoch of training)
    from yololab.errors import UserError
    from yololab.train.config import TrainConfig
    from yololab.train.trainer import train

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    (out / "weights").symlink_to(elsewhere, target_is_directory=True)
    cfg = TrainConfig(model="yolov5n", data=str(tiny_data), imgsz=64, batch=2, epochs=1, workers=0, out=str(out),
                      progress=False, plots=False, seed=1)
    with pytest.raises(UserError, match="weights: it is a symbolic link"):
        train(cfg)
    assert not list(elsewhere.iterdir()) and not (out / "results.csv").exists()
