"""Issue 29 part 5 and issue 30 items 8-9: one error base with four kinds, one handler for every command,
and the cases that ended in a traceback or a misleading sentence (each test failed before the fix)."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require_module

import yololab
from yololab.cli import main
from yololab.errors import CheckpointError, ConfigError, DataError, EnvError, UserError

KINDS = {ConfigError: "config", DataError: "data", CheckpointError: "checkpoint", EnvError: "environment"}
#: exceptions that never reach a user: serving's flow control (answered as HTTP 503), Ray's transfer limit
INTERNAL = {"BatcherClosed", "BudgetFull", "TransferTooLarge"}
def _exception_classes() -> dict[str, type]:
    """Every exception class defined in yololab (found in the source, then imported from its module)."""
    root = Path(yololab.__file__).parent
    found: dict[str, type] = {}
    for path in sorted(root.rglob("*.py")):
        names = [node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)
                 and any(getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception", "Full", "Closed",
                                                                            "Large")) for b in node.bases)]
        if names:
            module = importlib.import_module(".".join(("yololab", *path.relative_to(root).with_suffix("").parts)))
            found.update({name: getattr(module, name) for name in names})
    return {name: cls for name, cls in found.items() if inspect.isclass(cls) and issubclass(cls, BaseException)}


def test_every_yololab_exception_is_one_kind_of_user_error() -> None:
    classes = _exception_classes()
    assert {"ConfigError", "CheckpointError", "UnsafeCheckpointError", "JsonFileError", "WriteError",
            "ImageCheckError", "NonFiniteLossError"} <= set(classes)
    for name, cls in classes.items():
        if name in INTERNAL or cls in KINDS or cls is UserError:
            continue
        kinds = [kind for kind in KINDS if issubclass(cls, kind)]
        assert len(kinds) == 1, f"{cls.__module__}.{name} is not exactly one kind of yololab.errors.UserError"
        assert cls.category == KINDS[kinds[0]]


def test_the_old_bases_still_hold() -> None:
    import pickle

    from yololab.config import ConfigError as ConfigErrorOfConfig
    from yololab.models.checkpoints import CheckpointError as CheckpointErrorOfModels
    from yololab.models.safe_pickle import UnsafeCheckpointError
    from yololab.train.trainer import NonFiniteLossError

    assert ConfigErrorOfConfig is ConfigError and CheckpointErrorOfModels is CheckpointError
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, UserError)  # was ValueError only
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError) and issubclass(UnsafeCheckpointError,
                                                                                    CheckpointError)
    assert issubclass(NonFiniteLossError, RuntimeError) and NonFiniteLossError.exit_status == 1


def test_one_handler_prints_one_line_and_uses_the_class_exit_status(monkeypatch, capsys) -> None:
    from yololab.train.trainer import NonFiniteLossError

    def diverged(cfg):
        raise NonFiniteLossError("non-finite loss at epoch 3, batch 2/8\nimages: a.jpg")
    monkeypatch.setattr("yololab.train.trainer.train", diverged)
    assert main(["train", "--data", "d.yaml"]) == 1
    assert capsys.readouterr().err == "yololab train: error: non-finite loss at epoch 3, batch 2/8 images: a.jpg\n"


def test_a_missing_optional_package_is_one_sentence(monkeypatch, capsys) -> None:
    def missing(args):
        raise ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime.capi")
    monkeypatch.setattr("yololab.deploy.cli._bench", missing)
    parser_main = main(["bench", "--weights", "m.onnx"])
    assert parser_main == 2
    assert capsys.readouterr().err == ("yololab bench: error: this needs the Python package 'onnxruntime', which "
                                       "is not installed here\n")


def test_compare_and_tune_return_2_instead_of_raising_system_exit(tmp_path, capsys) -> None:
    assert main(["compare", "--out", str(tmp_path / "c")]) == 2  # raised SystemExit (status 1)
    assert "give --config" in capsys.readouterr().err
    spec = tmp_path / "no_tune.yaml"
    spec.write_text("data: d.yaml\nmodels: [yolov5n]\n")
    assert main(["tune", "--config", str(spec), "--out", str(tmp_path / "t"), "--devices", "cpu"]) == 2
    assert "has no 'tune:' section" in capsys.readouterr().err


# ------------------------------------------------------------------------------- issue 30, item 9
def test_a_20_digit_seed_is_refused_by_the_spec_and_by_train() -> None:
    from yololab.experiments.plan.spec import spec_from_mapping
    from yololab.train.config import TrainConfig

    base = {"data": "d.yaml", "models": ["yolov5n"], "backbones": ["native"]}
    with pytest.raises(ConfigError, match="seed 12345678901234567890 is not an integer from 0 to"):
        spec_from_mapping({**base, "seeds": [12345678901234567890]})
    with pytest.raises(ConfigError, match=r"seed_offset 5\)"):  # the seed a cell trains: seed + offset
        spec_from_mapping({**base, "seeds": [2**63 - 3], "backbones": [{"name": "native", "seed_offset": 5}]})
    assert list(spec_from_mapping({**base, "seeds": [0, 2**63 - 1]}).seeds) == [0, 2**63 - 1]
    with pytest.raises(ConfigError, match="seed 99999999999999999999"):
        TrainConfig(seed=99999999999999999999)


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's /sys (a folder nobody may write)")
def test_a_cache_folder_that_cannot_be_written_says_so(monkeypatch) -> None:
    from yololab.data import imcache
    from yololab.data.records import ImageRecord

    records = [ImageRecord(path="a.jpg", labels=np.zeros((0, 5), np.float32), width=64, height=48)]
    entries = [Path("/sys/yololab-no-cache/a.npy")]
    with pytest.raises(UserError) as err:
        imcache.check_disk(entries, records, 64)
    text = str(err.value)
    assert "cannot write its .npy entries in /sys/yololab-no-cache" in text and "0.00 GB" not in text
    choice = imcache.choose_cache("auto", records, 64, entries)
    assert "cannot be written in /sys/yololab-no-cache" in choice.reason


def test_a_damaged_matches_file_names_itself_and_never_suggests_pickle(tmp_path) -> None:
    from yololab.eval.bootstrap import ImageMatches

    junk = tmp_path / "matches_val.npz"
    junk.write_bytes(os.urandom(500))
    objects = tmp_path / "matches_test.npz"
    np.savez(objects, image_ids=np.array([{"a": 1}], dtype=object))
    partial = tmp_path / "matches_train.npz"
    np.savez(partial, image_ids=np.arange(3))
    for path in (junk, objects, partial):
        with pytest.raises(DataError) as err:
            ImageMatches.load(path)
        assert str(path) in str(err.value) and "pickle" not in str(err.value).lower()
    with pytest.raises(DataError, match="cat_ids"):
        ImageMatches.load(partial)


def test_a_duplicate_coco_image_id_names_both_files(tmp_path) -> None:
    from PIL import Image

    from yololab.data.formats.coco_format import load_coco_records

    for name in ("first.jpg", "second.jpg"):
        Image.new("RGB", (64, 48)).save(tmp_path / name)
    gt = {"images": [{"id": 7, "file_name": "first.jpg", "width": 64, "height": 48},
                     {"id": 7, "file_name": "second.jpg", "width": 64, "height": 48}],
          "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    report = load_coco_records(tmp_path / "gt.json", tmp_path, log=False).report
    assert report.duplicate_image == 1
    example = report.examples["duplicate_image"][0]
    assert "second.jpg" in example and "first.jpg" in example and "first.jpg's (that one is kept)" in example


def test_converting_an_empty_set_writes_nothing_and_a_failure_leaves_the_folder_clean(tmp_path, monkeypatch,
                                                                                       capsys) -> None:
    from PIL import Image

    from yololab.data.formats import convert

    empty = tmp_path / "empty_val.json"
    empty.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    out = tmp_path / "out"
    for _ in range(2):  # the rerun gets the same sentence, not "exists and is not an empty folder"
        assert main(["convert", "--from", "coco", "--to", "yolo", str(empty), str(out), "--image-dir",
                     str(tmp_path)]) == 2
        assert "no images to convert" in capsys.readouterr().err
        assert not out.exists()
    Image.new("RGB", (64, 48)).save(tmp_path / "a.jpg")
    one = tmp_path / "one_val.json"
    one.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
                               "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    (tmp_path / "mine").mkdir()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "mine" / "data.yaml"))
    monkeypatch.setattr(convert, "_write_data_yaml", fail)
    assert main(["convert", "--from", "coco", "--to", "yolo", str(one), str(tmp_path / "mine"), "--image-dir",
                 str(tmp_path)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list((tmp_path / "mine").iterdir()) == [] and (tmp_path / "a.jpg").is_file()


def test_report_only_refuses_a_results_json_it_does_not_know(tmp_path, capsys) -> None:
    newer = json.dumps({"format_version": 99, "rows": [], "what": "a newer yololab's table"})
    (tmp_path / "results.json").write_text(newer)
    (tmp_path / "experiment.yaml").write_text("data: d.yaml\nmodels: [yolov5n]\n")
    assert main(["compare", "--report-only", "--out", str(tmp_path)]) == 2
    assert "format_version 99" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_text() == newer


# ------------------------------------------------------------------------------- issue 30, item 8
def test_openvino_save_failure_removes_its_temporary_bin(tmp_path, monkeypatch) -> None:
    openvino = pytest.importorskip("openvino")
    from yololab.deploy.exporting.export import export_openvino

    class Converted:
        def set_rt_info(self, *args) -> None:
            pass

    def full(model, path, compress_to_fp16=False):
        Path(path).write_text("<net/>")
        Path(path).with_suffix(".bin").write_bytes(b"\0" * 4096)
        raise RuntimeError("Can't write bin file: No space left on device")
    monkeypatch.setattr(openvino, "save_model", full)
    out = tmp_path / "ov"
    out.mkdir()
    with pytest.raises(EnvError, match=r"OpenVINO could not save .*m\.xml .*No space left"):
        export_openvino(tmp_path / "m.onnx", out / "m.xml", {}, False, model=Converted())
    assert list(out.iterdir()) == []


def test_tune_space_bounds_must_be_finite() -> None:
    from yololab.experiments.plan.tune_space import ParamRange

    for bad in ({"low": float("nan"), "high": 1.0}, {"low": 0.0, "high": float("inf")},
                {"low": 0.0, "high": 1.0, "step": float("nan")}):
        with pytest.raises(ConfigError, match="must be a finite number"):
            ParamRange(**bad).check("tune.space.lr0")


def test_serve_checks_port_and_host_before_loading_the_model(tmp_path) -> None:
    require_module("fastapi")
    from yololab.deploy.serving.serve import check_address

    with pytest.raises(ConfigError, match="--port 80000 is not a TCP port"):
        check_address("127.0.0.1", 80000)
    with pytest.raises(EnvError, match="cannot listen on --host no.such.host.invalid"):
        check_address("no.such.host.invalid", 8000)
    check_address("127.0.0.1", 0)


def test_serve_refuses_repeated_query_parameters_and_file_parts(tmp_path) -> None:
    require_module("httpx", "for FastAPI's TestClient")
    require_module("fastapi")
    from fastapi.testclient import TestClient
    from PIL import Image
    import io

    from yololab.deploy.serving.serve import ServeConfig, create_app
    from yololab.models import build_model
    from yololab.models.checkpoints import save_model

    save_model(build_model("yolov5n", None, 2), tmp_path / "m.pt")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 30)).save(buf, format="JPEG")
    jpeg = buf.getvalue()
    with TestClient(create_app(ServeConfig(str(tmp_path / "m.pt"), imgsz=64, threads=1, device="cpu"))) as client:
        r = client.post("/predict?conf=0.9&conf=0.01", files={"file": ("a.jpg", jpeg, "image/jpeg")})
        assert r.status_code == 422 and "conf given more than once" in r.json()["detail"]
        r = client.post("/predict", files=[("file", ("a.jpg", jpeg, "image/jpeg")),
                                           ("file", ("b.jpg", jpeg, "image/jpeg"))])
        assert r.status_code == 422 and "2 'file' parts" in r.json()["detail"]
        assert client.post("/predict?conf=0.5", files={"file": ("a.jpg", jpeg, "image/jpeg")}).status_code == 200


def test_argparse_errors_are_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--epochs", "many"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == ("yololab train: error: argument --epochs: invalid int value: 'many' "
                                       "(see yololab train --help)\n")


def test_no_command_module_catches_its_own_errors() -> None:
    """One handler (yololab.cli.run_command): the command modules neither print errors nor raise SystemExit."""
    root = Path(yololab.__file__).parent
    for rel in ("train/cli.py", "eval/cli.py", "experiments/cli.py", "deploy/cli.py"):
        text = (root / rel).read_text()
        assert "print_error" not in text and "SystemExit" not in text, rel
    assert sys.modules["yololab.cli"].run_command
