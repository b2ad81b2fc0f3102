"""``yololab predict --corruption NAME --severity S``: the model runs on, and the annotated copy shows,
the corrupted image (the same one the scoring loader makes); a bad name or severity is one clear line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololab.cli import main
from yololab.data.corrupted import image_seed
from yololab.data.corruptions import corrupt
from yololab.data.imaging.images import read_image

pytestmark = pytest.mark.usefixtures("one_thread")


def _predict(weights: Path, source: Path, out: Path, *extra: str) -> list[dict]:
    assert main(["predict", "--weights", str(weights), "--source", str(source), "--imgsz", "320",
                 "--out", str(out), "--device", "cpu", *extra]) == 0
    return json.loads((out / "predictions.json").read_text())


def test_predict_shows_and_scores_the_corrupted_image(yolov5n_pt: Path, coco128_image: Path, tmp_path: Path,
                                                      capsys) -> None:
    source = tmp_path / "in" / coco128_image.name
    source.parent.mkdir()
    shutil.copy(coco128_image, source)
    clean = _predict(yolov5n_pt, source, tmp_path / "clean", "--no-images")
    dets = _predict(yolov5n_pt, source, tmp_path / "contrast", "--corruption", "contrast", "--severity", "5")
    assert dets != clean
    drawn = cv2.imread(str(tmp_path / "contrast" / source.name))[..., ::-1]
    expected = corrupt(read_image(source), "contrast", 5, image_seed(0, source))
    assert drawn.shape == expected.shape
    # away from the drawn boxes the annotated copy is the corrupted photo (up to JPEG re-encoding)
    assert np.median(np.abs(drawn.astype(int) - expected)) <= 2
    assert (drawn.std(axis=(0, 1)) < 0.3 * read_image(source).std(axis=(0, 1))).all()  # contrast x 0.05


@pytest.mark.parametrize("extra, expected", [(["--corruption", "rain"], "unknown corruption"),
                                             (["--corruption", "fog", "--severity", "0"], "from 1 to 5")])
def test_predict_corruption_bad_input(yolov5n_pt: Path, coco128_image: Path, tmp_path: Path, capsys,
                                      extra: list[str], expected: str) -> None:
    code = main(["predict", "--weights", str(yolov5n_pt), "--source", str(coco128_image), "--out",
                 str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err, err
