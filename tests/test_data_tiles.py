"""Tiled training on the fly: the tile index (SAHI's grid), boxes clipped or dropped at min_visibility, one
cache entry per image, a one-epoch tiled train whose val is the full-image sliced mAP, bad settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from yololab.data import TiledDataset, TileSettings, load_data_config, load_split
from yololab.data.tiling.tiles import clip_labels, parse_tiles, tile_index
from yololab.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")


def _large(root: Path) -> Path:
    """Two 256 px training canvases and one val canvas of small shapes."""
    from yololab.data.synthetic import make_large_synthetic_dataset

    return make_large_synthetic_dataset(root, num_train=2, num_val=1, canvas=256, objects=12, radius=(6.0, 14.0))


@pytest.fixture(scope="module")
def large_data(tmp_path_factory) -> Path:
    return _large(tmp_path_factory.mktemp("large"))


def _xyxy_labels(boxes, width: int, height: int) -> np.ndarray:
    b = np.asarray(boxes, np.float64)
    return np.stack([b[:, 0], (b[:, 1] + b[:, 3]) / 2 / width, (b[:, 2] + b[:, 4]) / 2 / height,
                     (b[:, 3] - b[:, 1]) / width, (b[:, 4] - b[:, 2]) / height], 1).astype(np.float32)


def test_index_follows_the_slice_grid_with_flush_border_tiles():
    tiles = TileSettings(size=128, overlap=0.2)  # step 128 - 25 = 103
    items = tile_index([(256, 256), (300, 200), (100, 80)], [np.zeros((0, 5))] * 3, tiles)
    by_image = [[it.window for it in items if it.source == i] for i in range(3)]
    assert len(by_image[0]) == 9
    assert sorted({w[0] for w in by_image[0]}) == [0, 103, 128]  # the last column sits flush: 128 + 128 = 256
    assert by_image[0][-1] == (128, 128, 256, 256)
    assert len(by_image[1]) == 6  # x starts 0, 103, 172 (flush with 300); y starts 0, 72 (flush with 200)
    assert sorted({w[0] for w in by_image[1]}) == [0, 103, 172] and sorted({w[1] for w in by_image[1]}) == [0, 72]
    assert all(w[2] - w[0] == 128 and w[3] - w[1] == 128 for w in by_image[1])
    assert by_image[2] == [None]  # smaller than a tile: one whole-image item, as without tiles
    whole = tile_index([(256, 256), (100, 80)], [np.zeros((0, 5))] * 2, TileSettings(128, 0.2, whole_images=True))
    assert [it.window for it in whole].count(None) == 2 and len(whole) == 11  # + the large image whole


def test_cut_boxes_are_clipped_or_dropped_at_min_visibility():
    labels = _xyxy_labels([[0, 10, 10, 30, 30],      # inside
                           [1, 80, 20, 120, 40],     # half inside: kept at 0.5, clipped to x 80..100
                           [2, 90, 50, 130, 70],     # a quarter inside
                           [0, 150, 150, 170, 170]],  # outside
                          200, 200)
    half = clip_labels(labels, 200, 200, (0, 0, 100, 100), 0.5)
    np.testing.assert_allclose(half, [[0, 0.2, 0.2, 0.2, 0.2], [1, 0.9, 0.3, 0.2, 0.2]], atol=1e-6)
    anything = clip_labels(labels, 200, 200, (0, 0, 100, 100), 0.0)
    np.testing.assert_allclose(anything, [[0, 0.2, 0.2, 0.2, 0.2], [1, 0.9, 0.3, 0.2, 0.2],
                                          [2, 0.95, 0.6, 0.1, 0.2]], atol=1e-6)
    shifted = clip_labels(labels, 200, 200, (100, 0, 200, 100), 0.6)  # box 1 is 50 % here too: dropped
    np.testing.assert_allclose(shifted, [[2, 0.15, 0.6, 0.3, 0.2]], atol=1e-6)  # 3/4 of box 2: x 100..130


@pytest.mark.parametrize("cache", ["ram", "disk"])
def test_cache_holds_each_image_once_and_tiles_are_its_crops(tmp_path, cache):
    records, _ = load_split(load_data_config(_large(tmp_path)), "train", log=False)
    ds = TiledDataset(records, TileSettings(size=128, overlap=0.2), img_size=64, stride=32, cache=cache)
    assert len(ds) == 18 and len(ds.records) == 2
    entries = sorted(Path(records[0].path).parent.with_name("train.yololab-npy").glob("*.npy"))
    assert len(entries) == 2  # one per image, not per tile
    assert ds._entry_shape(0) == (128, 128, 3)  # at tile scale: a 128 px tile is 64 px
    for k in (0, 4, 8):  # tiles of image 0: crops of its one frame
        item = ds.items[k]
        x0, y0, x1, y1 = (round(v * 0.5) for v in item.window)
        im, hw0, hw = ds.load_image(k)
        assert hw0 == (128, 128) and hw == (64, 64)
        np.testing.assert_array_equal(im, ds._frame(item.source)[y0:y1, x0:x1])
    whole = TiledDataset(records, TileSettings(size=128, whole_images=True), img_size=64, stride=32, cache=cache)
    assert len(whole) == 20 and whole.items[9].window is None  # image 0's 9 tiles, then image 0 whole
    im, hw0, hw = whole.load_image(9)
    assert hw0 == (256, 256) and hw == (64, 64) and len(whole.labels[9]) == len(records[0].labels)
    assert sorted(entries[0].parent.glob("*.npy")) == entries  # whole images are the same entries resized
    augmented = TiledDataset(records, TileSettings(size=128), img_size=64, augment=True, stride=32, cache=cache)
    for k in range(len(augmented)):  # mosaic, affine, HSV and flips on tiles
        img, labels, path, _ = augmented[k]
        assert img.shape == (3, 64, 64) and path == records[augmented.items[k].source].path
        assert labels.shape[1] == 6 and ((labels[:, 2:] >= 0) & (labels[:, 2:] <= 1)).all()


def test_one_epoch_tiled_train_validates_on_the_full_images_sliced(large_data, tmp_path):
    from fixtures import train_cfg

    from yololab.eval.sliced_val import validate_sliced
    from yololab.eval.slicing import SliceSettings
    from yololab.train.trainer import Trainer

    trainer = Trainer(train_cfg(large_data, tmp_path / "run", batch=4, tiles={"size": 128, "overlap": 0.2}))
    try:
        trainer.setup()
        summary = trainer.fit()
    finally:
        trainer.release()
    assert len(trainer.dataset) == 18
    assert trainer.val_slicing == SliceSettings.for_val(128, overlap=0.2, full_pass=False)
    metrics = summary.final_metrics
    assert metrics["num_images"] == 1  # the one val canvas scored whole, not its tiles
    assert "sliced" in metrics["speed_ms_per_image"] and "map_tiny" in metrics
    again = validate_sliced(trainer.ema.ema, trainer.data.val, trainer.data.names, trainer.val_settings,
                            SliceSettings.for_val(128, overlap=0.2, full_pass=False), progress=False).summary()
    assert (again["map50_95"], again["num_detections"]) == (metrics["map50_95"], metrics["num_detections"])
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["tiles"] == {"size": 128, "overlap": 0.2, "min_visibility": 0.1, "whole_images": False}


@pytest.mark.parametrize("value, words", [
    ({"overlap": 0.2}, "tiles needs size"),
    ({"size": 128, "overlap": 1.0}, "overlap 1.0"),
    ({"size": 128, "min_visibility": 1.5}, "min_visibility 1.5"),
    ({"size": 128, "sise": 1}, "'sise'"),
    ({"size": 0}, "size 0"),
    (640, "expected a mapping"),
])
def test_bad_tile_settings_are_one_sentence(value, words):
    with pytest.raises(ConfigError) as err:
        parse_tiles(value, "data.yaml")
    text = str(err.value)
    assert words in text and text.startswith("data.yaml: ") and "\n" not in text


def test_tiles_smaller_than_the_stride_and_bad_yaml_are_refused(large_data, tmp_path):
    from yololab.train.config import TrainConfig

    with pytest.raises(ConfigError, match="at least the model's stride of 32 px"):
        TileSettings(size=16).check(32)
    with pytest.raises(ConfigError, match="tiles needs size"):
        TrainConfig(tiles={"overlap": 0.5})
    cfg = yaml.safe_load(Path(large_data).read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**cfg, "path": str(Path(large_data).parent), "tiles": {"size": 128, "overlap": -0.1}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: tiles: overlap -0.1: expected a fraction"):
        load_data_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({**cfg, "path": str(Path(large_data).parent), "tiles": {"size": 128}}))
    assert load_data_config(good).tiles == TileSettings(size=128)


def test_experiment_tiles_reach_every_cell_and_the_protocol_card(large_data, tmp_path):
    from yololab.experiments.plan.comparison_plan import cell_train_config
    from yololab.experiments.plan.protocol_card import tiles_protocol
    from yololab.experiments.plan.spec import expand_cells, spec_from_mapping

    base = {"data": str(large_data), "models": ["yolov5n"], "backbones": ["native"], "seeds": [0, 1]}
    spec = spec_from_mapping({**base, "tiles": {"size": 128, "whole_images": True}})
    configs = [cell_train_config(spec, c, tmp_path / c.cell_id) for c in expand_cells(spec)]
    assert len(configs) == 2 and all(c.tiles == TileSettings(128, whole_images=True) for c in configs)
    card = tiles_protocol(spec)
    assert (card["size"], card["whole_images"], card["from"]) == (128, True, "experiment")
    from yololab.experiments.report.scoring_notes import scoring_notes

    assert any("tiles of 128 px" in n and "whole images added" in n for n in scoring_notes(spec, []))
    assert not any("tiles" in n for n in scoring_notes(spec_from_mapping(base), []))
    assert tiles_protocol(spec_from_mapping(base)) is None
    cfg = yaml.safe_load(Path(large_data).read_text())
    tiled_yaml = tmp_path / "tiled.yaml"
    tiled_yaml.write_text(yaml.safe_dump({**cfg, "path": str(Path(large_data).parent), "tiles": {"size": 128}}))
    assert tiles_protocol(spec_from_mapping({**base, "data": str(tiled_yaml)}))["from"] == "data"
    with pytest.raises(ConfigError, match=r"tiles: overlap 2"):
        spec_from_mapping({**base, "tiles": {"size": 128, "overlap": 2}})
    with pytest.raises(ConfigError, match=r"'tiles' is set by the experiment; use tiles"):
        spec_from_mapping({**base, "train": {"tiles": {"size": 128}}})
