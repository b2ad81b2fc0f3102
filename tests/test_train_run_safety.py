"""Issue 20, run folders: writes never follow a planted symbolic link, a finished run is not silently
replaced, --resume takes only the run's own intact last.pt, and a full disk is one sentence.

One 1-epoch run of yolov5n at 64 px on 4 synthetic images (a few seconds) serves every test.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
from pathlib import Path

import pytest
import torch
from fixtures import train_cfg

from yololab.atomic import WriteError
from yololab.cli import main
from yololab.errors import UserError
from yololab.models import build_model
from yololab.models.checkpoints import CheckpointError, atomic_save, load_model
from yololab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")


# conftest's tiny_data: 4 train / 2 val images of two classes
TINY_DATA = {"num_val": 2, "classes": ("square", "circle"), "max_objects": 2, "seed": 0}
_cfg = functools.partial(train_cfg, seed=1)


@pytest.fixture(scope="module")
def one_epoch_run(tiny_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run1")
    train(_cfg(tiny_data, out))
    return out


def _copy_run(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst)
    return dst


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--model", "yolov5n", "--data", str(data), "--epochs", "2", "--imgsz", "64", "--batch", "2",
            "--workers", "0", "--out", str(out), "--no-progress", "--no-plots", *extra]


@pytest.mark.parametrize("name", ["results.csv", "config.yaml", "data_report.json", ".train.lock"])
def test_symlink_planted_in_run_folder_is_refused(tiny_data: Path, tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / name).symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        train(_cfg(tiny_data, out))
    assert victim.read_text() == "precious\n"


def test_weights_folder_linked_outside_the_run_is_refused(tiny_data: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    (out / "weights").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UserError, match="outside the output folder"):
        train(_cfg(tiny_data, out))
    assert not list(elsewhere.iterdir())


def test_train_into_a_finished_run_is_refused(one_epoch_run: Path, tiny_data: Path, tmp_path: Path,
                                              capsys) -> None:
    out = _copy_run(one_epoch_run, tmp_path / "run")
    before = (out / "weights" / "last.pt").read_bytes()
    assert main(_train_args(tiny_data, out)) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--resume" in err and "--exist-ok" in err and "--out" in err
    assert "Traceback" not in err and (out / "weights" / "last.pt").read_bytes() == before
    assert main(_train_args(tiny_data, out, "--exist-ok")) == 0  # starting over (2 epochs), as asked
    assert (out / "results.csv").read_text().count("\n") == 3  # header + the new run's two epochs
    assert torch.load(out / "weights" / "last.pt", weights_only=True)["epoch"] == 1


def test_resume_refuses_another_family(one_epoch_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = _copy_run(one_epoch_run, tmp_path / "run")
    last = out / "weights" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    other = build_model("yolov7-tiny", num_classes=2)
    ckpt.update(spec=other.spec.to_dict(), state_dict=other.state_dict(), model_state=other.state_dict(),
                train_config={**ckpt["train_config"], "model": "yolov7-tiny"})
    atomic_save(ckpt, last)
    with pytest.raises(UserError, match="yolov7-tiny.*yolov5n") as info:
        train(_cfg(tiny_data, out, epochs=2, resume=True))
    assert str(last) in str(info.value)


def test_resume_refuses_flipped_bytes(one_epoch_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = _copy_run(one_epoch_run, tmp_path / "run")
    last = out / "weights" / "last.pt"
    data = bytearray(last.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(b ^ 0xFF for b in data[mid:mid + 4096])
    last.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged") as info:
        train(_cfg(tiny_data, out, epochs=2, resume=True))
    assert str(last) in str(info.value)
    with pytest.raises(CheckpointError, match="damaged"):
        load_model(last)


@pytest.mark.parametrize("kind", ["upstream", "truncated"])
def test_resume_from_foreign_or_truncated_file_is_one_sentence(one_epoch_run: Path, tiny_data: Path,
                                                               tmp_path: Path, yolov5n_pt: Path, kind: str,
                                                               capsys) -> None:
    out = _copy_run(one_epoch_run, tmp_path / "run")
    last = out / "weights" / "last.pt"
    if kind == "upstream":
        shutil.copyfile(yolov5n_pt, last)
    else:
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    assert main(_train_args(tiny_data, out, "--resume")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(last) in err
    assert "Weights only load failed" not in err and "Traceback" not in err
    assert ("upstream" in err) if kind == "upstream" else ("truncated" in err)


def test_checkpoint_without_hash_still_loads(tmp_path: Path, caplog) -> None:
    model = build_model("yolov5n", num_classes=2)
    path = tmp_path / "old.pt"
    torch.save({"yololab_format": 1, "spec": model.spec.to_dict(), "fused": False,
                "state_dict": model.state_dict()}, path)
    with caplog.at_level("INFO", logger="yololab"):
        assert load_model(path).head.num_classes == 2
    assert "no content hash" in caplog.text


def test_disk_full_while_saving_is_one_sentence(one_epoch_run: Path, tiny_data: Path, tmp_path: Path,
                                                monkeypatch) -> None:
    out = _copy_run(one_epoch_run, tmp_path / "run")
    last = out / "weights" / "last.pt"
    before = last.read_bytes()

    def full_disk(obj, handle, *args, **kwargs):
        handle.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(WriteError) as info:
        train(_cfg(tiny_data, out, epochs=2, resume=True))
    message = str(info.value)
    assert f"could not save epoch 1 to {last}" in message and "No space left on device" in message
    assert "previous last.pt" in message and "intact" in message and "--resume" in message
    assert last.read_bytes() == before and not list(last.parent.glob(".*.tmp"))


def test_permission_refused_on_results_csv_is_one_sentence(one_epoch_run: Path, tiny_data: Path, tmp_path: Path,
                                                           monkeypatch) -> None:
    from yololab import atomic

    out = _copy_run(one_epoch_run, tmp_path / "run")
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):
        if str(path).endswith("results.csv") and flags & os.O_APPEND:
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", refuse)
    with pytest.raises(WriteError) as info:
        train(_cfg(tiny_data, out, epochs=2, resume=True))
    message = str(info.value)
    assert f"{out / 'results.csv'}: Permission denied" in message and "--resume" in message
    assert "previous last.pt" in message and torch.load(out / "weights" / "last.pt", weights_only=True)["epoch"] == 0
