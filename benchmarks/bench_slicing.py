"""Sliced inference, yololab side by side with SAHI's ``get_sliced_prediction`` on the same model and image.

    python benchmarks/bench_slicing.py [--weights ../shared/weights/yolov5n.pt] [--grid 3] [--slice 640]
        [--runs 5] [--batch 4] [--conf 0.25] [--merge greedynmm --merge-metric ios] [--json out.json]

Needs ``pip install sahi`` (a benchmark-only dependency). The image is a ``--grid`` x ``--grid`` mosaic of
coco128 val2017 photos at their own size (about 1920 x 1440 for 3). Both sides run the same
:class:`yololab.deploy.runtime.pipeline.Predictor` (letterbox to ``--imgsz``, model, NMS at ``--conf``): SAHI
through a ``DetectionModel`` wrapper, one slice per call as ``get_sliced_prediction`` runs it by default
(and with ``--sahi-batch N``, its ``batch_size``), yololab through :func:`yololab.eval.sliced.predict_sliced`
with ``--batch`` slices per model call. Same slices (size, overlap 0.2), the whole-image pass, the same
merge and threshold, class-aware. The sides take turns, ``--runs`` times after one warm-up each; the
median images/s is reported.

``--weights model.xml --sahi-weights model.pt``: yololab runs the same weights through its OpenVINO (or ONNX
Runtime) export, SAHI through PyTorch (what its wrapper of a custom PyTorch model runs).

Equality: SAHI's per-slice detections are recorded, fed to yololab's merge unchanged, and the merged
boxes compared (max abs difference in px, and the counts).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def mosaic(grid: int) -> np.ndarray:
    """A grid x grid mosaic of the first coco128 val2017 photos, each at its own size (padded grey)."""
    from yololab.data.imaging.images import read_image

    files = sorted((SHARED / "data" / "coco128" / "images" / "val2017").glob("*.jpg"))[: grid * grid]
    photos = [read_image(f) for f in files]
    ch, cw = max(p.shape[0] for p in photos), max(p.shape[1] for p in photos)
    canvas = np.full((grid * ch, grid * cw, 3), 114, np.uint8)
    for k, p in enumerate(photos):
        y, x = (k // grid) * ch, (k % grid) * cw
        canvas[y:y + p.shape[0], x:x + p.shape[1]] = p
    return canvas


def sahi_model(predictor, conf: float, record: list | None = None):
    """``predictor`` as a SAHI DetectionModel (boxes already in slice pixels and above ``conf``)."""
    from sahi.models.base import DetectionModel
    from sahi.prediction import ObjectPrediction

    class YololabModel(DetectionModel):
        def load_model(self):
            self.model = predictor

        def set_model(self, model, **kwargs):
            self.model = model

        def perform_inference(self, image: np.ndarray) -> None:
            self._original_predictions = [self.model([image])[0]]

        def perform_batch_inference(self, images) -> None:  # one model call for the whole batch
            self._original_predictions = self.model(list(images))

        def _create_object_prediction_list_from_original_predictions(self, shift_amount_list=[[0, 0]],
                                                                     full_shape_list=None) -> None:
            shifts = shift_amount_list if isinstance(shift_amount_list[0], list) else [shift_amount_list]
            shapes = full_shape_list if full_shape_list and isinstance(full_shape_list[0], list) else \
                [full_shape_list] * len(shifts)
            per_image = []
            for dets, shift, shape in zip(self._original_predictions, shifts, shapes):
                if record is not None:
                    record.append((tuple(shift), np.array(dets, np.float64)))
                per_image.append([ObjectPrediction(bbox=d[:4].tolist(), category_id=int(d[5]),
                                                   category_name=str(int(d[5])), score=float(d[4]),
                                                   shift_amount=list(shift), full_shape=shape)
                                  for d in dets if d[4] >= self.confidence_threshold])
            self._object_prediction_list_per_image = per_image

    return YololabModel(model=predictor, confidence_threshold=conf, device="cpu", load_at_init=True)


def run_sahi(image, model, args) -> np.ndarray:
    from sahi.predict import get_sliced_prediction

    result = get_sliced_prediction(image, model, args.slice, args.slice, args.overlap, args.overlap,
                                   perform_standard_pred=args.full_pass, postprocess_type=args.merge.upper(),
                                   postprocess_match_metric=args.merge_metric.upper(),
                                   postprocess_match_threshold=args.merge_threshold,
                                   postprocess_class_agnostic=False, verbose=0, batch_size=args.sahi_batch,
                                   force_postprocess_type=True)
    return np.array([[*p.bbox.to_xyxy(), p.score.value, p.category.id] for p in result.object_prediction_list],
                    np.float64).reshape(-1, 6)


def sahi_merge(record: list, shape: tuple[int, int], args) -> int:
    """SAHI's side of the merge alone: per-slice detections -> shifted ObjectPredictions -> its postprocess."""
    from sahi.postprocess.combine import GreedyNMMPostprocess, NMMPostprocess, NMSPostprocess
    from sahi.prediction import ObjectPrediction

    post = {"greedynmm": GreedyNMMPostprocess, "nmm": NMMPostprocess, "nms": NMSPostprocess}[args.merge](
        match_threshold=args.merge_threshold, match_metric=args.merge_metric.upper(), class_agnostic=False)
    preds = [ObjectPrediction(bbox=d[:4].tolist(), category_id=int(d[5]), category_name=str(int(d[5])),
                              score=float(d[4]), shift_amount=list(shift), full_shape=list(shape)
                              ).get_shifted_object_prediction() for shift, dets in record for d in dets]
    return len(post(preds))


def _sorted(d: np.ndarray) -> np.ndarray:
    return d[np.lexsort(d.T[::-1])]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolov5n.pt"))
    p.add_argument("--sahi-weights", default=None,
                   help="the model SAHI runs (default: --weights); e.g. the .pt while yololab runs its OpenVINO export")
    p.add_argument("--grid", type=int, default=3)
    p.add_argument("--slice", type=int, default=640)
    p.add_argument("--overlap", type=float, default=0.2)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--merge", default="greedynmm", choices=("greedynmm", "nmm", "nms"))
    p.add_argument("--merge-metric", default="ios", choices=("ios", "iou"))
    p.add_argument("--merge-threshold", type=float, default=0.5)
    p.add_argument("--no-full-pass", dest="full_pass", action="store_false")
    p.add_argument("--batch", type=int, default=4, help="yololab: slices per model call")
    p.add_argument("--sahi-batch", type=int, default=1, help="SAHI's batch_size (its default: 1)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--backend", default=None)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", default=None)
    p.add_argument("--rounds", type=int, default=0,
                   help="time each side in its own process, the sides alternating for this many rounds (use it when "
                        "the two sides run different runtimes: an ONNX Runtime or OpenVINO thread pool left spinning "
                        "in the process slows the other side's turns)")
    p.add_argument("--time-only", choices=("yololab", "sahi"), default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.time_only:
        return _time_one_side(args)

    import torch

    from yololab.deploy.runtime.pipeline import Predictor
    from yololab.eval.sliced import predict_sliced
    from yololab.eval.slicing import SliceSettings, merge_detections, slice_grid

    if args.threads:
        torch.set_num_threads(args.threads)
    image = mosaic(args.grid)
    predictor = Predictor(args.weights, args.imgsz, conf=args.conf, iou=0.45, max_det=300, backend=args.backend, threads=args.threads,
                          device="cpu")
    settings = SliceSettings(args.slice, args.overlap, args.merge, args.merge_metric, args.merge_threshold,
                             args.full_pass).check(predictor.backend.stride)
    sahi_predictor = predictor if not args.sahi_weights else Predictor(
        args.sahi_weights, args.imgsz, conf=args.conf, iou=0.45, max_det=300, threads=args.threads, device="cpu")
    model = sahi_model(sahi_predictor, args.conf)

    # equality: SAHI's own per-slice detections through yololab's merge
    record: list = []
    sahi_out = run_sahi(image, sahi_model(sahi_predictor, args.conf, record), args)
    raw = np.concatenate([d.reshape(-1, 6) + [sx, sy, sx, sy, 0, 0] for (sx, sy), d in record])
    ours = merge_detections(raw, args.merge, args.merge_metric, args.merge_threshold)
    same_count = len(ours) == len(sahi_out)
    diff = float(np.abs(_sorted(ours) - _sorted(sahi_out)).max()) if same_count and len(ours) else float("nan")

    merges = {"yololab": lambda: len(merge_detections(np.concatenate(
                  [d.reshape(-1, 6) + [sx, sy, sx, sy, 0, 0] for (sx, sy), d in record]),
                  args.merge, args.merge_metric, args.merge_threshold)),
              "sahi": lambda: sahi_merge(record, image.shape[:2], args)}
    merge_times: dict[str, list[float]] = {k: [] for k in merges}
    for _ in range(max(args.runs, 3)):
        for name, fn in merges.items():
            t = time.perf_counter()
            fn()
            merge_times[name].append(time.perf_counter() - t)

    sides = {"yololab": lambda: predict_sliced(image, predictor, settings, batch=args.batch),
             "sahi": lambda: run_sahi(image, model, args)}
    if args.rounds:  # each side alone in its own process, alternating; the median of every timed run
        del predictor, sahi_predictor, model, sides
        times = {k: [] for k in ("yololab", "sahi")}
        counts = {}
        for _ in range(args.rounds):
            for name in times:
                one = json.loads(subprocess.run([sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
                                                 "--time-only", name], check=True, capture_output=True,
                                                text=True).stdout.strip().splitlines()[-1])
                times[name] += one["times_s"]
                counts[name] = one["boxes"]
        backends = {"yololab": one_backend(args.weights), "sahi": one_backend(args.sahi_weights or args.weights)}
    else:
        times = {k: [] for k in sides}
        counts = {k: len(f()) for k, f in sides.items()}  # warm-up
        for _ in range(args.runs):
            for name, fn in sides.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        backends = {"yololab": predictor.backend.kind, "sahi": sahi_predictor.backend.kind}
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"image": list(image.shape[:2]), "slices": len(slice_grid(*image.shape[:2], args.slice, args.overlap)),
           "settings": vars(args), "torch_threads": torch.get_num_threads(),
           "backends": backends, "separate_processes": bool(args.rounds), "timed_runs": len(times["sahi"]),
           "median_s": med, "images_per_s": {k: 1 / v for k, v in med.items()},
           "speedup": med["sahi"] / med["yololab"], "boxes": counts, "slice_detections": len(raw),
           "merge_only_ms": {k: 1000 * statistics.median(v) for k, v in merge_times.items()},
           "equal_given_same_slice_detections": {"count_sahi": len(sahi_out), "count_yololab": len(ours),
                                                 "max_abs_px": diff}}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


def one_backend(weights: str) -> str:
    from yololab.deploy.runtime.backends import backend_kind

    return backend_kind(weights)


def _time_one_side(args) -> int:
    """One side alone in this process: a warm-up, then ``--runs`` timed runs; one JSON line."""
    import torch

    from yololab.deploy.runtime.pipeline import Predictor
    from yololab.eval.sliced import predict_sliced
    from yololab.eval.slicing import SliceSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    image = mosaic(args.grid)
    weights = args.weights if args.time_only == "yololab" else (args.sahi_weights or args.weights)
    predictor = Predictor(weights, args.imgsz, conf=args.conf, iou=0.45, max_det=300, threads=args.threads,
                          backend=args.backend if args.time_only == "yololab" else None, device="cpu")
    if args.time_only == "yololab":
        settings = SliceSettings(args.slice, args.overlap, args.merge, args.merge_metric, args.merge_threshold,
                                 args.full_pass).check(predictor.backend.stride)
        run = lambda: predict_sliced(image, predictor, settings, batch=args.batch)  # noqa: E731
    else:
        model = sahi_model(predictor, args.conf)
        run = lambda: run_sahi(image, model, args)  # noqa: E731
    boxes = len(run())  # warm-up
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    print(json.dumps({"times_s": times, "boxes": boxes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
