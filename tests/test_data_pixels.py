"""Channels, bit depth, DICOM and multi-band TIFF: the data YAML keys, decoding without truncation, the
pipeline keeping dtype and channels, and the one normalisation (issue 26, data side)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
import tifffile
import torch
import yaml
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from yololab.data import DetectionDataset, create_dataloader, load_data_config
from yololab.data.augment import AugmentConfig, augment_colour, letterbox
from yololab.data.imaging.images import check_image_info, read_image
from yololab.data.imaging.pixels import (
    PixelSpec,
    checkpoint_pixels,
    model_pixels,
    normalize_batch,
    pad_input_value,
    parse_pixel_spec,
)
from yololab.data.source import open_split
from yololab.data.synthetic import make_synthetic_pixels_dataset
from yololab.errors import CheckpointError, DataError

ONE = PixelSpec(channels=1)


def _yaml(tmp_path: Path, **keys) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    path = tmp_path / "data.yaml"
    path.write_text(yaml.safe_dump({"train": "images", "val": "images", "names": ["a"], **keys}))
    return path


# ---------------------------------------------------------------- the YAML keys and the record
def test_yaml_keys_default_and_parsed(tmp_path) -> None:
    assert load_data_config(_yaml(tmp_path)).pixels == PixelSpec()
    cfg = load_data_config(_yaml(tmp_path, channels=1, normalize="window", window=[40, 400]))
    assert cfg.pixels == PixelSpec(1, "window", (40.0, 400.0))
    spec = load_data_config(_yaml(tmp_path, channels=4, normalize={"mean": [0.5], "std": [0.25]})).pixels
    assert spec.normalize == "meanstd" and spec.mean == (0.5,) and spec.std == (0.25,)


@pytest.mark.parametrize("keys, key", [
    ({"channels": 0}, "channels"), ({"channels": "rgb"}, "channels"), ({"normalize": "zscore"}, "normalize"),
    ({"normalize": "window"}, "window"), ({"window": [40]}, "window"), ({"window": [40, 0]}, "window"),
    ({"normalize": {"mean": [0.1, 0.2]}}, "normalize"), ({"channels": 3, "normalize": {"mean": [0, 0], "std": [1, 1]}},
                                                         "mean"),
    ({"frame": -1}, "frame"),
])
def test_bad_pixel_keys_are_one_sentence_naming_the_yaml_and_key(tmp_path, keys, key) -> None:
    with pytest.raises(DataError) as err:
        load_data_config(_yaml(tmp_path, **keys))
    assert "data.yaml" in str(err.value) and key in str(err.value)


def test_spec_round_trips_through_a_plain_dict_and_checkpoints() -> None:
    spec = PixelSpec(4, "meanstd", None, (0.1, 0.2, 0.3, 0.4), (1.0, 1.0, 2.0, 2.0), None)
    assert PixelSpec.from_dict(spec.to_dict()) == spec
    assert yaml.safe_load(yaml.safe_dump(spec.to_dict())) == spec.to_dict()  # plain values only
    assert PixelSpec.from_checkpoint({"spec": {}}) == PixelSpec()  # an old checkpoint: 3 channels, dtype
    assert PixelSpec.from_checkpoint({"pixels": spec.to_dict()}) == spec
    with pytest.raises(CheckpointError, match="pixels"):
        PixelSpec.from_checkpoint({"pixels": {"channels": -2}})


def test_training_checkpoint_keeps_the_spec_for_val(tmp_path) -> None:
    from yololab.models import build_model
    from yololab.models.checkpoints import atomic_save, model_checkpoint

    model = build_model("yolov5n", "cspdarknet", 2)
    spec = PixelSpec(3, "minmax")
    atomic_save(model_checkpoint(model, pixels=spec.to_dict()), tmp_path / "w.pt")
    atomic_save(model_checkpoint(model), tmp_path / "old.pt")
    assert checkpoint_pixels(tmp_path / "w.pt") == spec
    assert checkpoint_pixels(tmp_path / "old.pt") is None
    data = PixelSpec(3, "dtype")
    assert model_pixels(data, checkpoint_pixels(tmp_path / "w.pt")).normalize == "minmax"
    assert model_pixels(data, None) == data


# ---------------------------------------------------------------- normalisation
def test_uint8_dtype_normalisation_is_bitwise_the_old_division() -> None:
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(normalize_batch(x), x.float() / 255)
    assert torch.equal(normalize_batch(x, None, torch.float16), x.to(torch.float16) / 255)


def test_normalisations() -> None:
    x16 = torch.tensor([[[[0, 257 * 114, 65535]]]], dtype=torch.uint16)
    assert torch.allclose(normalize_batch(x16), torch.tensor([0, 114 / 255, 1.0]).view(1, 1, 1, 3))
    win = normalize_batch(torch.tensor([[[[-200.0, 40.0, 240.0, 1000.0]]]]), PixelSpec(1, "window", (40, 400)))
    assert torch.allclose(win.flatten(), torch.tensor([0.0, 0.5, 1.0, 1.0]))
    mm = normalize_batch(torch.tensor([[[[10, 20, 30]], [[5, 5, 5]]]], dtype=torch.uint16), PixelSpec(2, "minmax"))
    assert torch.allclose(mm[0, 0].flatten(), torch.tensor([0.0, 0.5, 1.0])) and not mm[0, 1].any()
    ms = normalize_batch(torch.full((1, 2, 1, 1), 255, dtype=torch.uint8), PixelSpec(2, "meanstd", None, (0.5, 0.0),
                                                                                      (0.5, 2.0)))
    assert torch.allclose(ms.flatten(), torch.tensor([1.0, 0.5]))
    assert pad_input_value() == float(np.float32(114) / np.float32(255))


# ---------------------------------------------------------------- DICOM (pydicom's real sample files)
def _dicom_yaml_spec(**keys) -> PixelSpec:
    return parse_pixel_spec({"channels": 1, **keys}, "data.yaml")


def test_dicom_rescale_and_windows() -> None:
    ct = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(ct)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert "WindowCenter" not in ds and float(ds.RescaleIntercept) == -1024
    got = read_image(ct, _dicom_yaml_spec(window=[40, 400]))[:, :, 0]  # a soft-tissue window from the YAML
    want = np.clip((hu - (40 - 200)) / 400, 0, 1)
    assert got.dtype == np.float32 and got.shape == hu.shape and np.allclose(got, want, atol=1e-6)
    full = read_image(ct, ONE)[:, :, 0]  # no window anywhere: the full signed 16-bit range, rescaled
    assert np.allclose(full, (hu - (-32768 - 1024)) / 65535, atol=1e-6)
    raw = read_image(ct, _dicom_yaml_spec(normalize="window", window=[40, 400]))[:, :, 0]
    assert np.allclose(raw, hu)  # normalize: window -> rescaled values, windowed at normalisation
    net = normalize_batch(torch.from_numpy(raw)[None, None], PixelSpec(1, "window", (40, 400)))[0, 0].numpy()
    assert np.allclose(net, want, atol=1e-6)
    mr = get_testdata_file("MR_small.dcm")
    mds = pydicom.dcmread(mr)
    c, w = float(mds.WindowCenter), float(mds.WindowWidth)  # the file's own window
    assert np.allclose(read_image(mr, ONE)[:, :, 0], np.clip((mds.pixel_array - (c - w / 2)) / w, 0, 1), atol=1e-6)


def test_dicom_monochrome1_is_inverted(tmp_path) -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    normal = read_image(get_testdata_file("MR_small.dcm"), ONE)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "inverted.dcm")
    assert np.allclose(read_image(tmp_path / "inverted.dcm", ONE), 1 - normal, atol=1e-6)


def test_dicom_multi_frame_refused_unless_a_frame_is_named() -> None:
    path = get_testdata_file("rtdose.dcm")
    with pytest.raises(DataError, match=r"rtdose.dcm is a multi-frame DICOM \(15 frames\).*frame: N"):
        read_image(path, ONE)
    frame = read_image(path, PixelSpec(1, frame=3))
    assert frame.shape[2] == 1 and frame.dtype == np.float32
    with pytest.raises(DataError, match="frame: 20"):
        read_image(path, PixelSpec(1, frame=20))
    assert read_image(get_testdata_file("MR_small.dcm"), PixelSpec(1, frame=3)).shape == (64, 64, 1)


def test_dicom_bad_inputs_get_a_sentence(tmp_path) -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    del ds.PixelData
    ds.save_as(tmp_path / "empty.dcm")
    with pytest.raises(DataError, match="empty.dcm is a DICOM file without pixel data"):
        read_image(tmp_path / "empty.dcm", ONE)
    with pytest.raises(DataError, match="without pixel data"):
        check_image_info(tmp_path / "empty.dcm")
    try:
        import pylibjpeg  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match="JPEG-LS.*pip install pylibjpeg"):
            read_image(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), ONE)


def test_header_checks_of_dicom_and_tiff(tmp_path) -> None:
    info = check_image_info(get_testdata_file("CT_small.dcm"))
    assert (info.width, info.height, info.channels, info.bits, info.dtype) == (128, 128, 1, 16, "float32")
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((5, 40, 30), np.uint16), photometric="minisblack",
                     planarconfig="separate")
    info = check_image_info(tmp_path / "b.tif")
    assert (info.width, info.height, info.channels, info.bits, info.dtype) == (30, 40, 5, 16, "uint16")


# ---------------------------------------------------------------- the same grey photos in three encodings
def _write_dicom(path: Path, values: np.ndarray) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = values.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_grey_photos_as_8bit_png_16bit_png_and_dicom_give_the_same_network_input(coco128, tmp_path) -> None:
    photos = sorted((coco128 / "images" / "train2017").glob("*.jpg"))[:3]
    yamls = {}
    for kind, suffix in (("png8", ".png"), ("png16", ".png"), ("dicom", ".dcm")):
        folder = tmp_path / kind / "images"
        folder.mkdir(parents=True)
        for p in photos:
            grey = cv2.cvtColor(read_image(p), cv2.COLOR_RGB2GRAY)
            out = folder / f"{p.stem}{suffix}"
            if kind == "png8":
                cv2.imwrite(str(out), grey)
            elif kind == "png16":
                cv2.imwrite(str(out), grey.astype(np.uint16) * 257)
            else:
                _write_dicom(out, grey.astype(np.uint16) * 257)
        yamls[kind] = _yaml(tmp_path / kind, channels=1)
    inputs = {}
    for kind, data in yamls.items():
        split = open_split(data, "val", log=False)
        ds = DetectionDataset(split.records, 640, rect=True, batch_size=1, pixels=split.pixels)
        batches = [normalize_batch(b[0], split.pixels) for b in create_dataloader(ds, 1)]
        decoded = [normalize_batch(torch.from_numpy(read_image(r.path, split.pixels)).permute(2, 0, 1)[None],
                                   split.pixels) for r in split.records]
        inputs[kind] = (batches, decoded, {str(k) for k in split.report.pixel_formats})
    assert inputs["png8"][2] == {"8-bit 1-channel"} and inputs["png16"][2] == {"16-bit 1-channel"}
    for kind in ("png16", "dicom"):
        for a, b in zip(inputs["png8"][0] + inputs["png8"][1], inputs[kind][0] + inputs[kind][1]):
            assert a.shape == b.shape and a.shape[1] == 1
            assert (a - b).abs().max().item() <= 1e-6


# ---------------------------------------------------------------- channel counts
def test_an_image_with_another_channel_count_is_named(tmp_path, coco128) -> None:
    photo = sorted((coco128 / "images" / "train2017").glob("*.jpg"))[0]
    with pytest.raises(DataError, match=rf"{photo.name} has 3 channel\(s\) but the data set has channels: 1"):
        read_image(photo, ONE)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / photo.name).write_bytes(photo.read_bytes())
    split = open_split(_yaml(tmp_path, channels=1), "val", log=False)
    with pytest.raises(DataError, match=r"has 3 channel\(s\) but the data set has channels: 1"):
        DetectionDataset(split.records, 64, pixels=split.pixels)  # before anything is decoded
    grey = cv2.cvtColor(read_image(photo), cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    rgb = read_image(tmp_path / "grey.png")  # a grey photo in a 3-channel set: replicated, as always
    assert rgb.shape[2] == 3 and (rgb == grey[:, :, None]).all()


def test_multiband_tiff_planar_and_interleaved_decode_alike(tmp_path) -> None:
    bands = np.random.default_rng(0).integers(0, 65536, (40, 30, 5), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "contig.tif", bands, photometric="minisblack", planarconfig="contig")
    tifffile.imwrite(tmp_path / "planar.tif", bands.transpose(2, 0, 1), photometric="minisblack",
                     planarconfig="separate")
    five = PixelSpec(5)
    for name in ("contig.tif", "planar.tif"):
        got = read_image(tmp_path / name, five)
        assert got.dtype == np.uint16 and np.array_equal(got, bands)
    with pytest.raises(DataError, match=r"planar.tif has 5 channel\(s\) but the data set has channels: 4"):
        read_image(tmp_path / "planar.tif", PixelSpec(4))


def test_16bit_rgb_png_is_no_longer_truncated(tmp_path) -> None:
    im = np.random.default_rng(1).integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), im[:, :, ::-1])
    got = read_image(tmp_path / "rgb16.png")
    assert got.dtype == np.uint16 and np.array_equal(got, im)
    assert check_image_info(tmp_path / "rgb16.png").bits == 16


# ---------------------------------------------------------------- the pipeline and the synthetic sets
@pytest.mark.parametrize("kind, channels", [("gray16", 1), ("bands4", 4)])
@pytest.mark.parametrize("cache", [None, "ram", "disk"])
def test_synthetic_16bit_sets_load_as_uint16_batches(tmp_path, kind, channels, cache) -> None:
    data = make_synthetic_pixels_dataset(tmp_path / kind, kind, num_train=6, num_val=2, img_size=64)
    split = open_split(data, "train", log=False)
    assert split.channels == channels and split.report.pixel_formats == {f"16-bit {channels}-channel": 6}
    for mosaic in ("warp", "canvas"):
        torch.manual_seed(0)
        ds = DetectionDataset(split.records, 64, augment=True, aug=AugmentConfig(degrees=5, mixup=0.5),
                              batch_size=3, cache=cache, pixels=split.pixels, mosaic=mosaic)
        images, targets, _, _ = next(iter(create_dataloader(ds, 3, shuffle=True, seed=0)))
        assert images.shape == (3, channels, 64, 64) and images.dtype == torch.uint16
        assert len(targets) and images.float().std() > 1000  # the low bytes are there, not truncated
        assert (images.to(torch.int32) % 256).float().std() > 10
        x = normalize_batch(images, split.pixels)
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    val = DetectionDataset(open_split(data, "val", log=False).records, 64, rect=True, batch_size=1,
                           pixels=split.pixels)
    image = next(iter(create_dataloader(val, 1)))[0]
    assert image.dtype == torch.uint16 and image.shape[1] == channels


def test_cache_entries_keep_dtype_and_channels(tmp_path) -> None:
    from yololab.data import imcache

    data = make_synthetic_pixels_dataset(tmp_path / "b", "bands4", num_train=2, num_val=1, img_size=64)
    split = open_split(data, "train", log=False)
    ds = DetectionDataset(split.records, 64, cache="disk", pixels=split.pixels)
    entry = ds._npy[0]
    assert np.load(entry).dtype == np.uint16 and np.load(entry).shape == (64, 64, 4)
    assert imcache.entry_problem(entry, (64, 64, 4), "uint16") is None
    assert "expected uint8" in imcache.entry_problem(entry, (64, 64, 4), "uint8")
    assert "(64, 64, 3)" in imcache.entry_problem(entry, (64, 64, 3), "uint16")
    # a default-spec data set of the same files names other entries (channels and window are in the name)
    assert imcache.npy_path(split.records[0].path, 64, 1, PixelSpec(1)) != entry


def test_levels_augmentation_keeps_dtype_and_hsv_stays_on_rgb() -> None:
    rng = np.random.default_rng(0)
    im = rng.integers(0, 65536, (16, 16, 4), dtype=np.uint16)
    out = augment_colour(im.copy(), AugmentConfig(), np.random.default_rng(1))
    assert out.dtype == np.uint16 and out.shape == im.shape and not np.array_equal(out, im)
    assert np.array_equal(augment_colour(im.copy(), AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0), rng), im)
    f = rng.random((16, 16, 1), dtype=np.float32)
    assert augment_colour(f.copy(), AugmentConfig(), np.random.default_rng(2)).dtype == np.float32
    boxed, _, _ = letterbox(np.zeros((10, 20, 1), np.uint16), 32, auto=False)
    assert boxed.shape == (32, 32, 1) and boxed[0, 0, 0] == 114 * 257


def test_mixed_pixel_formats_are_flagged(tmp_path, caplog) -> None:
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((20, 20), np.uint8))
    cv2.imwrite(str(tmp_path / "images" / "b.png"), np.zeros((20, 20), np.uint16))
    with caplog.at_level(logging.WARNING, logger="yololab"):
        split = open_split(_yaml(tmp_path, channels=1), "val")
    assert split.report.mixed_pixels and "MIXED pixel formats: 1 16-bit 1-channel, 1 8-bit 1-channel" in caplog.text
    ds = DetectionDataset(split.records, 32, rect=True, batch_size=2, pixels=split.pixels)
    batch = next(iter(create_dataloader(ds, 2)))[0]
    assert batch.dtype == torch.uint16  # uint8 promoted (x 257): the same [0, 1] values


def test_convert_writes_channels(tmp_path) -> None:
    from yololab.data.formats.convert import convert

    data = make_synthetic_pixels_dataset(tmp_path / "src", "gray16", num_train=2, num_val=1, img_size=64)
    result = convert("yolo", "yolo", data, tmp_path / "out")
    assert yaml.safe_load(result.data.read_text())["channels"] == 1
    assert open_split(result.data, "train", log=False).pixels == PixelSpec(1)


def test_deploy_preprocess_normalises_as_training(tmp_path) -> None:
    from yololab.deploy.runtime.images import preprocess

    im16 = np.random.default_rng(0).integers(0, 65536, (50, 40, 4), dtype=np.uint16)
    batch, _ = preprocess([im16], 64)
    boxed = letterbox(im16, 64, auto=False)[0]
    want = normalize_batch(torch.from_numpy(boxed).permute(2, 0, 1)[None]).numpy()
    assert batch.shape == (1, 4, 64, 64) and np.array_equal(batch, want)
    rgb = np.random.default_rng(1).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    batch8, _ = preprocess([rgb], 64)
    assert np.array_equal(batch8, torch.from_numpy(letterbox(rgb, 64, auto=False)[0]).permute(2, 0, 1)[None]
                          .float().numpy() / np.float32(255))


def test_upload_bytes_of_a_dicom_decode_through_the_one_decoder() -> None:
    from yololab.data.imaging.images import decode_image

    data = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    assert np.array_equal(decode_image(data, "upload", ONE), read_image(get_testdata_file("MR_small.dcm"), ONE))
    assert io.BytesIO(data).read(4)  # bytes, no file needed


def test_predictor_takes_the_checkpoints_pixels(tmp_path) -> None:
    from yololab.deploy.runtime.pipeline import Predictor
    from yololab.models import build_model
    from yololab.models.checkpoints import atomic_save, model_checkpoint

    model = build_model("yolov5n", "cspdarknet", 2)
    atomic_save(model_checkpoint(model, pixels=PixelSpec(3, "minmax").to_dict()), tmp_path / "w.pt")
    atomic_save(model_checkpoint(model), tmp_path / "old.pt")
    assert Predictor(tmp_path / "w.pt", 64, device="cpu").pixels == PixelSpec(3, "minmax")
    assert Predictor(tmp_path / "old.pt", 64, device="cpu").pixels == PixelSpec()


def test_uploads_of_dicom_16bit_png_and_multiband_tiff(tmp_path) -> None:
    from yololab.deploy.runtime.images import RAW_MODE, ImageDecodeError, inspect_upload, sniff_upload
    from yololab.deploy.serving.reduced_decode import decode_cost, decode_reduced

    dicom = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    sniff_upload(dicom[:1 << 16])
    header = inspect_upload(dicom)
    assert (header.format, header.mode, header.width, header.channels) == ("DICOM", RAW_MODE, 64, 1)
    assert decode_cost(header, 640) == 64 * 64 * 16
    up = decode_reduced(dicom, header, 32)  # a 3-channel model: the grey DICOM replicated, at full size
    assert up.image.shape == (64, 64, 3) and up.image.dtype == np.float32
    assert np.array_equal(decode_reduced(dicom, header, 32, ONE).image, read_image(get_testdata_file("MR_small.dcm"),
                                                                                   ONE))
    im16 = np.random.default_rng(0).integers(0, 65536, (300, 200), dtype=np.uint16)
    png = cv2.imencode(".png", im16)[1].tobytes()
    header = inspect_upload(png)
    assert header.mode == RAW_MODE and (header.width, header.height) == (200, 300)
    up = decode_reduced(png, header, 64)  # not reduced through PIL's 8 bits
    assert up.image.dtype == np.uint16 and np.array_equal(up.image[:, :, 0], im16)
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((4, 300, 300), np.uint16), photometric="minisblack", planarconfig="separate")
    with pytest.raises(ImageDecodeError, match="TIFF image is 300x300 pixels of 4 channel"):
        inspect_upload(buf.getvalue(), max_pixels=100_000)
    assert inspect_upload(buf.getvalue()).channels == 4
    with pytest.raises(ImageDecodeError, match=r"has 4 channel\(s\) but the data set has channels: 1"):
        decode_reduced(buf.getvalue(), inspect_upload(buf.getvalue()), 64, ONE)


def test_a_16bit_run_saves_its_pixels_and_val_reads_them(tmp_path, one_thread) -> None:
    """One CPU epoch on 16-bit RGB PNGs (a 3-channel model: the model side adds other counts): the batches
    stay uint16, last.pt records the data YAML's normalisation, and val decodes and scores with it."""
    from fixtures import train_cfg

    from yololab.cli import main
    from yololab.train.trainer import train

    data = make_synthetic_pixels_dataset(tmp_path / "rgb16", "rgb16", num_train=4, num_val=2, img_size=64)
    values = yaml.safe_load(data.read_text())
    data.write_text(yaml.safe_dump({**values, "normalize": "minmax"}))
    assert open_split(data, "train", log=False).report.pixel_formats == {"16-bit 3-channel": 4}
    train(train_cfg(data, tmp_path / "run"))
    weights = tmp_path / "run" / "weights" / "last.pt"
    assert checkpoint_pixels(weights) == PixelSpec(3, "minmax")
    assert main(["val", "--weights", str(weights), "--data", str(data), "--imgsz", "64", "--batch", "2",
                 "--workers", "0", "--json", str(tmp_path / "val.json")]) == 0


def test_half_precision_input_of_16bit_data_is_finite() -> None:
    x = torch.tensor([[[[0, 65535]]]], dtype=torch.uint16)
    half = normalize_batch(x, None, torch.float16)
    assert half.dtype == torch.float16 and torch.equal(half.float(), torch.tensor([[[[0.0, 1.0]]]]))
