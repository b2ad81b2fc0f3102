"""Robustness scoring (COCO-C protocol): corrupted images made in the loader (corrupt at full size, then
letterbox), the corruption / severity choices of ``yololab val``, mPC and rPC, and on real photos with
upstream's yolov5n: AP falls from severity 1 to 5 in every family and mPC stays below clean AP."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololab.cli import main
from yololab.data.augment import letterbox
from yololab.data.corrupted import CorruptedDataset, CorruptionSpec, image_seed
from yololab.data.corruptions import BENCHMARK, FAMILIES, corrupt
from yololab.data.dataset import DetectionDataset
from yololab.data.imaging.images import read_image
from yololab.data.records import ImageRecord
from yololab.errors import UserError
from yololab.eval.robustness import (
    CorruptedScore,
    RobustnessResult,
    format_robustness,
    parse_corruptions,
    parse_severities,
)


def _image_file(folder: Path, name: str = "photo.png", hw: tuple[int, int] = (120, 200)) -> ImageRecord:
    yy, xx = np.mgrid[0:hw[0], 0:hw[1]]
    img = np.stack([xx % 256, yy * 2 % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / name), img)
    return ImageRecord(str(folder / name), hw[1], hw[0], np.array([[0, 0.5, 0.5, 0.2, 0.3]]))


def test_loader_corrupts_at_full_size_then_letterboxes(tmp_path: Path) -> None:
    record = _image_file(tmp_path)
    spec = CorruptionSpec("gaussian_noise", 4, seed=7)
    dataset = CorruptedDataset([record], spec, 64, rect=True, stride=32, pad=0.5)
    image, labels, path, shapes = dataset[0]
    clean_image, clean_labels, _, clean_shapes = DetectionDataset([record], 64, rect=True, stride=32, pad=0.5)[0]
    assert shapes == clean_shapes and np.array_equal(labels, clean_labels)  # same geometry, same boxes
    full = corrupt(read_image(record.path), "gaussian_noise", 4, image_seed(7, record.path))  # 200x120
    small = cv2.resize(full, (64, 39), interpolation=cv2.INTER_AREA)
    expected, _, _ = letterbox(small, tuple(dataset.batch_shapes[0]), auto=False, scaleup=False)
    assert np.array_equal(image.permute(1, 2, 0).numpy(), expected)
    assert not np.array_equal(image, clean_image)
    assert np.array_equal(dataset[0][0], image)  # deterministic


def test_image_seed_follows_the_file_name_not_its_folder(tmp_path: Path) -> None:
    a = _image_file(tmp_path / "a", "x.png")
    b = _image_file(tmp_path / "b", "x.png")
    c = _image_file(tmp_path / "a", "y.png")
    assert image_seed(0, a.path) == image_seed(0, b.path) != image_seed(0, c.path)
    assert image_seed(0, a.path) != image_seed(1, a.path)
    spec = CorruptionSpec("shot_noise", 3)
    items = [CorruptedDataset([r], spec, 64)[0][0] for r in (a, b, c)]
    assert np.array_equal(items[0], items[1]) and not np.array_equal(items[0], items[2])


def test_corruption_and_severity_choices() -> None:
    assert parse_corruptions("all") == BENCHMARK
    assert parse_corruptions("noise,fog,gaussian_noise") == (*FAMILIES["noise"], "fog")
    assert parse_corruptions("extra") == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert parse_severities("all") == (1, 2, 3, 4, 5)
    assert parse_severities("1,3,5") == (1, 3, 5)
    for bad in ("rain", "fog,", ""):
        with pytest.raises(UserError, match="--corruption"):
            parse_corruptions(bad)
    for bad in ("0", "6", "1-5", "three", ""):
        with pytest.raises(UserError, match="--severity"):
            parse_severities(bad)
    with pytest.raises(ValueError, match="unknown corruption"):
        CorruptionSpec("rain", 1)


def test_mpc_is_the_mean_over_corruptions_and_severities_and_rpc_its_ratio_to_clean() -> None:
    scores = (CorruptedScore("fog", 1, 0.3), CorruptedScore("fog", 5, 0.1), CorruptedScore("contrast", 1, 0.2),
              CorruptedScore("contrast", 5, 0.0))
    result = RobustnessResult(0.4, scores)
    assert result.mpc == pytest.approx(0.15) and result.rpc == pytest.approx(0.375)
    assert result.table() == {"fog": {1: 0.3, 5: 0.1}, "contrast": {1: 0.2, 5: 0.0}}
    out = result.as_dict()
    assert out["corruptions"] == {"fog": {"1": 0.3, "5": 0.1}, "contrast": {"1": 0.2, "5": 0.0}}
    assert (out["map50_95"], out["mpc"], out["rpc"]) == (0.4, result.mpc, result.rpc)
    assert RobustnessResult(0.0, scores).rpc is None
    text = format_robustness(result)
    assert "mPC 0.150" in text and "rPC 37.5%" in text and "fog" in text


def test_images_too_small_to_corrupt_are_refused_before_scoring(tmp_path: Path) -> None:
    from yololab.data.source import DataSplit
    from yololab.eval.robustness import score_corrupted

    split = DataSplit([_image_file(tmp_path, "big.png"), _image_file(tmp_path, "tiny.png", (20, 60))], ["a"])
    with pytest.raises(UserError, match=r"1 images are smaller than the 32x32 .*tiny.png \(60x20\)"):
        score_corrupted(object(), split, ["fog"], [1])


@pytest.fixture(scope="module")
def val16(coco128: Path, tmp_path_factory) -> Path:
    """A data YAML over the first 16 real coco128 val2017 photos (read where they are)."""
    root = tmp_path_factory.mktemp("val16")
    val = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:16]
    (root / "val.txt").write_text("\n".join(map(str, val)) + "\n")
    names = (coco128 / "data.yaml").read_text().split("names:", 1)[1]
    (root / "data.yaml").write_text(f"path: {root}\ntrain: val.txt\nval: val.txt\nallow_outside_root: true\n"
                                    f"names:{names}")
    return root / "data.yaml"


@pytest.mark.slow
def test_ap_falls_with_severity_on_real_photos(yolov5n_pt: Path, val16: Path, tmp_path: Path,
                                               capsys, one_thread) -> None:
    """16 real photos, upstream yolov5n at 320: one corruption per family, severity 1 vs 5."""
    out = tmp_path / "robust.json"
    picks = "gaussian_noise,defocus_blur,fog,contrast"
    code = main(["val", "--weights", str(yolov5n_pt), "--data", str(val16), "--imgsz", "320",
                 "--workers", "0", "--corruption", picks, "--severity", "1,5", "--json", str(out)])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.err
    result = json.loads(out.read_text())
    assert set(result["corruptions"]) == set(picks.split(","))
    for name, row in result["corruptions"].items():
        assert row["5"] < row["1"] <= result["map50_95"] + 0.02, (name, row)
    assert result["mpc"] < result["map50_95"]
    assert result["rpc"] == pytest.approx(result["mpc"] / result["map50_95"])
    assert "mPC" in printed and "rPC" in printed and "defocus_blur" in printed


@pytest.mark.slow
def test_val_corruption_user_errors_exit_2(yolov5n_pt: Path, val16: Path, capsys) -> None:
    base = ["val", "--weights", str(yolov5n_pt), "--data", str(val16), "--workers", "0"]
    for extra, expected in ((["--corruption", "rain"], "'rain' is not a corruption"),
                            (["--corruption", "fog", "--severity", "7"], "--severity 7"),
                            (["--corruption", "fog", "--save-dt", "x.json"], "--save-dt"),
                            (["--corruption", "fog", "--seed", "-1"], "--seed -1")):
        code = main(base + extra)
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("yololab val: error:") and expected in err, (extra, err)
        assert "Traceback" not in err


def test_val_corruption_needs_a_model_not_results_files(tmp_path: Path, capsys) -> None:
    code = main(["val", "--gt", str(tmp_path / "gt.json"), "--dt", str(tmp_path / "dt.json"), "--corruption", "fog"])
    err = capsys.readouterr().err
    assert code == 2 and "--corruption scores a model" in err and "Traceback" not in err, err
