"""Issue 26's acceptance, end to end on small real files: a 4-band 16-bit TIFF set trains (from scratch and
from upstream's yolov5n.pt with its stem adapted), exports to ONNX with 4 inputs and predicts from the export
with the .pt's boxes; a comparison of two backbones on a 1-channel 16-bit PNG set writes its table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import TINY_SPEC, train_cfg


@pytest.fixture(scope="module")
def bands4(tmp_path_factory) -> Path:
    from yololab.data.synthetic import make_synthetic_pixels_dataset

    return make_synthetic_pixels_dataset(tmp_path_factory.mktemp("bands4"), kind="bands4", num_train=4, num_val=3,
                                         img_size=96)


@pytest.fixture(scope="module")
def trained_bands4(bands4, yolov5n_pt, tmp_path_factory) -> dict[str, Path]:
    """best.pt of one epoch from scratch and one from yolov5n.pt adapted from 3 to 4 channels."""
    from yololab.train.trainer import train

    out = tmp_path_factory.mktemp("runs")
    scratch = train(train_cfg(bands4, out / "scratch"))
    adapted = train(train_cfg(bands4, out / "adapted", weights=str(yolov5n_pt)))
    return {"scratch": Path(scratch.best or scratch.last), "adapted": Path(adapted.best or adapted.last)}


def test_four_band_runs_train_with_four_input_channels(trained_bands4, caplog):
    from yololab.models.checkpoints import load_model

    for kind, weights in trained_bands4.items():
        model = load_model(weights)
        assert model.spec.in_channels == 4, kind
    adapted = load_model(trained_bands4["adapted"]).spec.stem_adaptation
    assert adapted is not None and (adapted.from_channels, adapted.to_channels) == (3, 4)


def test_four_band_export_predicts_the_same_boxes(trained_bands4, bands4, tmp_path):
    import onnx

    from yololab.data.imaging.images import read_image
    from yololab.deploy.exporting.export import export_model
    from yololab.deploy.runtime.pipeline import Predictor

    weights = trained_bands4["adapted"]
    onnx_path = export_model(weights, "onnx", imgsz=96, out=tmp_path / "bands4.onnx")
    dims = onnx.load(str(onnx_path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == 4
    images = sorted((bands4.parent / "images" / "val").iterdir())
    pt, exported = (Predictor(w, 96, conf=0.001, device="cpu") for w in (weights, onnx_path))
    assert exported.pixels == pt.pixels and pt.pixels.channels == 4
    compared = 0
    for path in images:
        image = read_image(path, pt.pixels)
        assert image.shape[2] == 4 and image.dtype == np.uint16
        a, b = pt([image])[0], exported([image])[0]
        assert a.shape == b.shape, path.name
        if len(a):
            assert np.abs(a[:, :4] - b[:, :4]).max() < 1e-3 and np.abs(a[:, 4] - b[:, 4]).max() < 1e-3
            compared += len(a)
    assert compared > 0  # some boxes were compared, not only empty results


def test_compare_of_two_backbones_on_one_channel_16_bit(tmp_path):
    from yololab.data.synthetic import make_synthetic_pixels_dataset
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings

    data = make_synthetic_pixels_dataset(tmp_path / "gray16", kind="gray16", num_train=4, num_val=3, img_size=64)
    spec = {**TINY_SPEC, "data": str(data), "latency_backends": []}
    result = run_compare(spec, tmp_path / "out", RunSettings(bench=False))
    assert not result.failed
    table = (tmp_path / "out" / "results.md").read_text()
    assert "resnet18" in table and "cspdarknet" in table.lower()
    protocol = json.loads((tmp_path / "out" / "protocol.json").read_text())
    assert protocol["stems"]["in_channels"] == 1


def test_int8_calibration_reads_16_bit_images_as_the_data_says(tmp_path):
    import cv2

    from yololab.data.source import dataset_pixels
    from yololab.data.synthetic import make_synthetic_pixels_dataset
    from yololab.deploy.exporting.calibration import LetterboxCalibrationReader, calibration_files

    data = make_synthetic_pixels_dataset(tmp_path / "gray16", kind="gray16", num_train=2, num_val=1, img_size=64)
    files = calibration_files(data, 2)
    reader = LetterboxCalibrationReader(files, (64, 64), channels=1, pixels=dataset_pixels(data))
    batch = reader.batch(files[0])
    raw = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and batch.shape == (1, 1, 64, 64)
    np.testing.assert_allclose(batch[0, 0], raw / 65535, atol=1e-7)  # 64 px: no letterbox resize or pad


def test_val_adapts_an_rgb_checkpoint_to_a_one_channel_set(yolov5n_pt, coco128, tmp_path, caplog):
    import logging

    import cv2
    import yaml

    from yololab.cli import main
    from yololab.data.imaging.images import read_image

    root = tmp_path / "gray16"
    for kind in ("images", "labels"):
        (root / kind / "val").mkdir(parents=True)
    for photo in sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:2]:  # real photos, grey, 16-bit
        grey = cv2.cvtColor(read_image(photo), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
        cv2.imwrite(str(root / "images" / "val" / f"{photo.stem}.png"), grey)
        label = coco128 / "labels" / "val2017" / f"{photo.stem}.txt"
        (root / "labels" / "val" / label.name).write_bytes(label.read_bytes() if label.exists() else b"")
    names = yaml.safe_load((coco128 / "data.yaml").read_text())["names"]
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": ".", "train": "images/val", "val": "images/val", "channels": 1,
                                    "names": names}))
    out = tmp_path / "val.json"
    with caplog.at_level(logging.INFO, logger="yololab"):
        code = main(["val", "--weights", str(yolov5n_pt), "--data", str(data), "--imgsz", "320", "--device", "cpu",
                     "--workers", "0", "--json", str(out)])
    assert code == 0 and json.loads(out.read_text())["map50_95"] > 0.05  # the adapted stem still detects
    assert "from 3 to 1 input channels" in caplog.text
