"""Shared fixtures: the real data in ../shared beside the checkout.

Where ../shared is absent the tests that need it are skipped, except under CI (``CI=true``), where
they fail: CI must run the whole suite. Every test that needs ../shared goes through
:func:`require_shared` (via the ``coco128`` / ``yolov5n_pt`` fixtures), never a path of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the checkout; a machine that gets the data another way (benchmarks/gpu_check.sh) names it
SHARED = Path(os.environ.get("YOLOLAB_TEST_SHARED") or REPO.parent / "shared")
COCO128 = SHARED / "data" / "coco128"
YOLOV5N_PT = SHARED / "weights" / "yolov5n.pt"


def in_ci() -> bool:
    """True when the environment says this is CI (``CI=true``, as GitHub Actions, GitLab and .ci/run set)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def missing(reason: str) -> None:
    """Skip the test for something absent from this machine -- or fail it under CI, where nothing may be absent."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_module(name: str, why: str = ""):
    """Import an optional package of the ``[test]`` extras; skip without it, or fail under CI."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} is not installed (pip install -e '.[test]'){': ' + why if why else ''}")


def require_shared(path: Path, what: str) -> Path:
    """``path`` (a file in ../shared) if it exists; otherwise skip, or fail under CI."""
    if not path.is_file():
        missing(f"{what} not found at {path} (../shared beside the checkout)")
    return path


@pytest.fixture(scope="session")
def coco128() -> Path:
    """The real COCO128 subset (a directory with data.yaml, images/ and labels/)."""
    return require_shared(COCO128 / "data.yaml", "the real COCO128 subset").parent


@pytest.fixture(scope="session")
def coco128_image(coco128) -> Path:
    """The first coco128 val2017 photo: the sample image tests pass to exports and benchmarks."""
    return sorted((coco128 / "images" / "val2017").glob("*.jpg"))[0]


@pytest.fixture(scope="session")
def yolov5n_pt() -> Path:
    """Upstream's released yolov5n.pt."""
    return require_shared(YOLOV5N_PT, "upstream yolov5n.pt")


@pytest.fixture(scope="module")
def tiny_data(request, tmp_path_factory) -> Path:
    """Tiny synthetic data for a test module (:func:`fixtures.make_tiny_data`): a module changes it with
    ``TINY_DATA = {...}`` (make_synthetic_dataset's arguments, ``test_split``)."""
    from fixtures import make_tiny_data

    return make_tiny_data(tmp_path_factory.mktemp("data"), **getattr(request.module, "TINY_DATA", {}))


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """The user cache (decoded-image and label caches) in the test's own folder: ``pytestmark =
    pytest.mark.usefixtures("private_cache")`` in a module that writes caches."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a test module (far faster than two on a shared 2-core machine); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def coco128_mini(coco128, tmp_path_factory) -> Path:
    """A data YAML over real coco128 files: train = the first 16 train2017 images (e.g. INT8
    calibration), val = the first 16 val2017 images."""
    root = tmp_path_factory.mktemp("coco128_mini")
    train = sorted((coco128 / "images" / "train2017").glob("*.jpg"))[:16]
    val = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:16]
    (root / "train.txt").write_text("\n".join(map(str, train)) + "\n")
    (root / "val.txt").write_text("\n".join(map(str, val)) + "\n")
    names = (coco128 / "data.yaml").read_text().split("names:", 1)[1]
    # the images stay in coco128 (the data root); only the lists live here
    (root / "data.yaml").write_text(f"path: {coco128}\ntrain: {root / 'train.txt'}\nval: {root / 'val.txt'}\nnames:{names}")
    return root / "data.yaml"


def _exported_map(models: dict, data: Path, imgsz: int) -> dict[str, dict]:
    """COCO metrics of each exported model (label -> path) on the val split of ``data``, one thread."""
    from yololab.data import load_data_config, load_split
    from yololab.deploy.runtime.model_adapter import ExportedModel
    from yololab.eval.validate import ValSettings, validate

    records, names = load_split(data, "val", log=False)[0], load_data_config(data).names
    settings = ValSettings(image_size=imgsz, batch_size=8, workers=0)
    return {label: validate(ExportedModel(path, threads=1), records, names, settings, progress=False).metrics.as_dict()
            for label, path in models.items()}


@pytest.fixture(scope="session")
def exported_map():
    """``exported_map(models, data, imgsz)``: label -> COCO metrics of exported models on data's val split."""
    return _exported_map


def write_voc_from_yolo(images: list[Path], names: list[str], root: Path, sets: dict[str, list[Path]]) -> Path:
    """A Pascal VOC root made from YOLO-labelled images the way LabelImg writes it: integer 1-based
    inclusive boxes (``xmin = round(x1) + 1``, ``xmax = round(x2)``), objects under 32x32 pixels marked
    difficult; images are linked into JPEGImages/ and each set's ids go to ImageSets/Main/<set>.txt."""
    from PIL import Image

    from yololab.data.formats.voc_xml import VocObject, write_voc_xml

    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for im in images:
        (root / "JPEGImages" / im.name).symlink_to(im)
        with Image.open(im) as pil:
            w, h = pil.size
        objects = []
        label = im.parent.parent.parent / "labels" / im.parent.name / f"{im.stem}.txt"
        for line in label.read_text().splitlines() if label.is_file() else []:
            c, cx, cy, bw, bh = (float(v) for v in line.split())
            x1, y1, x2, y2 = (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h
            box = (max(1, round(x1) + 1), max(1, round(y1) + 1), min(w, round(x2)), min(h, round(y2)))
            objects.append(VocObject(names[int(c)], box, difficult=(x2 - x1) * (y2 - y1) < 32 * 32))
        write_voc_xml(root / "Annotations" / f"{im.stem}.xml", im.name, (w, h), objects)
    for name, members in sets.items():
        (root / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{m.stem}\n" for m in members))
    return root


@pytest.fixture(scope="session")
def coco128_voc(coco128, tmp_path_factory) -> Path:
    """A VOC root over real coco128 photos: train = 12 train2017 images, val = 8 val2017 images, with
    LabelImg-style integer boxes from their YOLO labels (small objects difficult)."""
    import yaml

    names = yaml.safe_load((coco128 / "data.yaml").read_text())["names"]
    names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    train = sorted((coco128 / "images" / "train2017").glob("*.jpg"))[:12]
    val = sorted((coco128 / "images" / "val2017").glob("*.jpg"))[:8]
    return write_voc_from_yolo(train + val, names, tmp_path_factory.mktemp("voc") / "VOC2007",
                               {"train": train, "val": val})
