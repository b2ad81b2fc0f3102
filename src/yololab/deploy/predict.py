"""``yololab predict``: run a model on images, folders, globs, videos or .txt lists.

Writes annotated images (an annotated .mp4 per video), ``predictions.json`` (COCO results:
image_id, category_id = class index, bbox = [left, top, w, h] pixels, score), ``images.json``
(COCO ``images`` entries naming each id's file/frame) and, with ``save_txt``, YOLO txt labels.
With ``coco_json`` the results carry that annotation file's image ids and category ids instead, so
pycocotools can score them against it directly.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from yololab.atomic import atomic_write_bytes, atomic_write_text, check_target, file_identity
from yololab.data.corrupted import CorruptionSpec, corrupt_file_image
from yololab.data.imaging.pixels import preview_rgb
from yololab.deploy.runtime.annotate import draw_detections
from yololab.deploy.runtime.pipeline import Predictor
from yololab.deploy.sources import Frame, count_frames, is_url, is_video, iter_frames, resolve_source
from yololab.device import DEFAULT_DEVICE
from yololab.errors import ConfigError, EnvError, UserError
from yololab.eval.boxes import xyxy2xywh
from yololab.eval.coco import detections_to_coco, image_ids
from yololab.eval.sliced import predict_sliced
from yololab.eval.slicing import SliceSettings
from yololab.jsonfile import write_json

LOG = logging.getLogger("yololab")


@dataclass
class PredictSummary:
    out: Path
    images: int = 0
    detections: int = 0
    skipped: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # what was written

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "images": self.images, "detections": self.detections,
                "skipped": self.skipped, "files": self.files}


class _Writer:
    """Saves one batch's results: annotated images/videos, txt labels, COCO entries."""

    def __init__(self, out: Path, names: list[str], save_images: bool, save_txt: bool,
                 save_conf: bool, ids: dict[Path, Any] | None, category_ids: list[int] | None = None) -> None:
        self.out, self.names, self.category_ids = out, names, category_ids
        self.save_images, self.save_txt, self.save_conf = save_images, save_txt, save_conf
        self.ids = ids  # image id per file when there are no videos, else sequential
        self.results: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []
        self.videos: dict[Path, cv2.VideoWriter] = {}
        self.video_paths: dict[Path, tuple[Path, Path]] = {}  # source -> (temporary file, final file)
        self.used: set[str] = set()
        self.names_by_path: dict[Path, str] = {}

    def _name(self, path: Path) -> str:
        """A unique output name per source file (same-named files from different folders)."""
        if path not in self.names_by_path:
            name, i = path.name, 1
            while name in self.used:
                name, i = f"{path.stem}_{i}{path.suffix}", i + 1
            self.used.add(name)
            self.names_by_path[path] = name
        return self.names_by_path[path]

    def add(self, frame: Frame, dets: np.ndarray) -> None:
        img_id = self.ids[frame.path] if self.ids is not None else len(self.images) + 1
        h, w = frame.image.shape[:2]
        name = self._name(frame.path)
        entry = {"id": img_id, "file_name": name, "width": w, "height": h}
        if frame.frame is not None:
            entry["frame"] = frame.frame
        self.images.append(entry)
        self.results.extend(detections_to_coco(img_id, dets, self.category_ids))
        stem = Path(name).stem + (f"_{frame.frame}" if frame.frame is not None else "")
        if self.save_txt:
            self._write_txt(self.out / "labels" / f"{stem}.txt", dets, w, h)
        if self.save_images:
            drawn = cv2.cvtColor(draw_detections(preview_rgb(frame.image), dets, self.names),
                                 cv2.COLOR_RGB2BGR)
            if frame.frame is None:
                target = name if Path(name).suffix.lower() not in (".dcm", ".dicom") else f"{Path(name).stem}.png"
                ok, encoded = cv2.imencode(Path(target).suffix if Path(target).suffix else ".jpg", drawn)
                if not ok:
                    raise ValueError(f"OpenCV could not encode {name}")
                atomic_write_bytes(self.out / target, encoded.tobytes(), self.out)
            else:
                self._video(frame, name, w, h).write(drawn)

    def _video(self, frame: Frame, name: str, w: int, h: int) -> cv2.VideoWriter:
        """The video's writer, on a temporary file that :meth:`close` renames to ``<stem>.mp4``."""
        if frame.path not in self.videos:
            path = check_target(self.out / f"{Path(name).stem}.mp4", self.out)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
            self.videos[frame.path] = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                                      frame.fps or 30.0, (w, h))
            self.video_paths[frame.path] = (tmp, path)
        return self.videos[frame.path]

    def _write_txt(self, path: Path, dets: np.ndarray, w: int, h: int) -> None:
        xywh = xyxy2xywh(dets[:, :4]) / np.array([w, h, w, h], np.float32) if len(dets) else dets[:, :4]
        lines = []
        for (cx, cy, bw, bh), score, cls in zip(xywh.tolist(), dets[:, 4].tolist(), dets[:, 5].tolist()):
            tail = f" {score:.5f}" if self.save_conf else ""
            lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}{tail}")
        atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""), self.out)

    def close(self) -> None:
        for source, writer in self.videos.items():
            writer.release()
            tmp, path = self.video_paths[source]
            if tmp.exists():
                check_target(path, self.out)
                os.replace(tmp, path)


def _within(file: Path, top: Path) -> bool:
    """Whether ``file`` is under ``top``: where its name is (its folder resolved) or, for a link (``yololab
    convert`` links images by default), where the file it points to is."""
    for folder in (Path(os.path.abspath(file)).parent.resolve(), Path(os.path.realpath(file)).parent):
        if folder == top or top in folder.parents:
            return True
    return False


def refuse_output_over_inputs(out: Path, files: list[Path], source: str) -> None:
    """Raise :class:`UserError` when the output folder ``out`` is, or holds, one of the input files (the
    annotated copies would replace the photos)."""
    top = out.resolve()
    local = [Path(f) for f in files if not is_url(f)]
    inside = [f for f in local if _within(f, top)]
    if not inside and top.is_dir():  # a hard link of an input in --out: the same file by another name
        held = {file_identity(p) for p in top.iterdir() if p.is_file()}
        inside = [f for f in local if file_identity(f) in held]
    if inside:
        raise UserError(f"--out {out} holds {len(inside)} of the input images (e.g. {inside[0]}); the annotated "
                        f"copies would replace them. Choose an --out outside {source}")


def _batches(frames: Iterator[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _corrupted(frame: Frame, spec: CorruptionSpec) -> Frame:
    """``frame`` under ``spec``, seeded by its file name (and frame index), as the scoring loader does."""
    path = frame.path if frame.frame is None else f"{frame.path}#{frame.frame}"
    return dataclasses.replace(frame, image=corrupt_file_image(frame.image, path, spec))


def coco_identity(coco_json: str | os.PathLike, image_dir: str | os.PathLike, files: list[Path],
                  num_classes: int) -> tuple[dict[Path, Any], list[int]]:
    """Image id of each of ``files`` and the category id of each class in the annotation file
    ``coco_json`` (``image_dir`` holds its images); refuses files it does not list, naming them."""
    from yololab.data.formats.coco_format import load_coco_records

    coco = load_coco_records(coco_json, image_dir, check_images=False, log=False)
    listed = {Path(os.path.abspath(r.path)): r.image_id for r in coco.records}
    unknown = [f for f in files if Path(os.path.abspath(f)) not in listed]
    if unknown:
        raise ValueError(f"{len(unknown)} source files are not images of {coco_json} under {image_dir}, "
                         f"e.g. {', '.join(map(str, unknown[:3]))}")
    if len(coco.category_ids) != num_classes:
        raise ValueError(f"{coco_json} has {len(coco.category_ids)} categories but the model predicts {num_classes}")
    return {f: listed[Path(os.path.abspath(f))] for f in files}, coco.category_ids


def predict(weights: str | os.PathLike, source: str, imgsz: int | None = None, conf: float = 0.25,
            iou: float = 0.45, max_det: int = 300, batch: int = 4, out: str | os.PathLike = "runs/predict",
            save_txt: bool = False, save_conf: bool = False, save_images: bool = True,
            threads: int | None = None, backend: str | None = None, progress: bool = True,
            coco_json: str | os.PathLike | None = None, image_dir: str | os.PathLike | None = None,
            device: str | None = DEFAULT_DEVICE, allow_network: bool = False,
            slicing: SliceSettings | None = None, corruption: CorruptionSpec | None = None) -> PredictSummary:
    """Run ``weights`` (.pt, .onnx, .xml, .torchscript) on ``source``; returns what was written.

    ``corruption``: run on (and draw) the images under this corruption (:mod:`yololab.data.corruptions`),
    to look at what it does to the detections.
    ``coco_json`` (images in ``image_dir``, default ``source``): write its image and category ids.
    ``device``: 'auto' (CUDA device 0 if available, else the CPU), 'cpu' or a GPU index.
    ``allow_network``: URLs and streams may be among the sources (refused otherwise).
    ``slicing``: sliced inference of each image (:mod:`yololab.eval.sliced`), ``batch`` slices at a time."""
    if batch < 1:
        raise ValueError(f"--batch must be >= 1, got {batch}")
    files = resolve_source(str(source), allow_network)
    out = Path(out)
    refuse_output_over_inputs(out, files, str(source))
    predictor = Predictor(weights, imgsz, conf, iou, max_det, threads=threads, backend=backend, device=device)
    if slicing is not None:
        slicing.check(predictor.backend.stride)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder for the predictions (new or one of yololab's)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EnvError(f"cannot create --out {out}: {err.strerror or err}") from None
    videos = any(is_video(f) for f in files)
    category_ids = None
    if coco_json is not None:
        if videos:
            raise ValueError("--coco-json names still images; the source has videos")
        ids, category_ids = coco_identity(coco_json, image_dir or source, files, len(predictor.names))
    else:
        ids = None if videos else dict(zip(files, image_ids(files)))
    writer = _Writer(out, predictor.names, save_images, save_txt, save_conf, ids, category_ids)
    summary = PredictSummary(out)
    bar = tqdm(total=count_frames(files), desc="predict", unit="img", disable=not progress)
    try:
        frames_in = iter_frames(files, summary.skipped, predictor.pixels)
        if corruption is not None:
            frames_in = (_corrupted(f, corruption) for f in frames_in)
        for frames in _batches(frames_in, batch if slicing is None else 1):
            results = predictor([f.image for f in frames]) if slicing is None else \
                [predict_sliced(f.image, predictor, slicing, batch, max_det) for f in frames]
            for frame, dets in zip(frames, results):
                writer.add(frame, dets)
                summary.detections += len(dets)
            summary.images += len(frames)
            bar.update(len(frames))
    finally:
        bar.close()
        writer.close()
    write_json(out / "predictions.json", writer.results, out, indent=None)
    write_json(out / "images.json", writer.images, out, indent=1)
    summary.files = {"predictions": str(out / "predictions.json"), "images": str(out / "images.json")}
    if save_txt:
        summary.files["labels"] = str(out / "labels")
    LOG.info("%d images, %d detections -> %s%s", summary.images, summary.detections, out,
             f" ({len(summary.skipped)} skipped)" if summary.skipped else "")
    return summary
