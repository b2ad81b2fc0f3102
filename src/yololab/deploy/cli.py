"""The deploy subcommands of ``yololab``: export, predict, bench, serve (handlers import lazily)."""

from __future__ import annotations

import argparse
import json

from yololab.deploy.runtime.kinds import BACKEND_KINDS as KINDS
from yololab.device import DEFAULT_DEVICE
from yololab.eval.slicing import add_slice_arguments


def _export(args: argparse.Namespace) -> int:
    from yololab.deploy.exporting.export import export_model

    channels = None  # --data names the images the export will see: a checkpoint of another count is adapted
    if args.data:
        from yololab.data.source import dataset_pixels

        channels = dataset_pixels(args.data).channels
    path = export_model(args.weights, args.format, imgsz=args.imgsz, batch=args.batch, dynamic=args.dynamic,
                        half=args.half, nms=args.nms, out=args.out, conf=args.conf, iou=args.iou,
                        max_det=args.max_det, opset=args.opset, check=not args.no_check, int8=args.int8,
                        data=args.data, calib_images=args.calib_images, calib_method=args.calib_method,
                        int8_weights=args.int8_weights,
                        sample=args.sample, in_channels=channels)
    if args.int8 and not args.no_check:  # FP32 vs INT8 side by side: mAP on the val split, latency
        from yololab.deploy.exporting.int8_report import compare_int8

        compare_int8(args.weights, path, args.data, imgsz=args.imgsz, fmt=args.format, sample=args.sample)
    print(path)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from yololab.deploy.predict import predict
    from yololab.eval.slicing import slice_settings

    summary = predict(args.weights, args.source, imgsz=args.imgsz, conf=args.conf, iou=args.iou,
                      max_det=args.max_det, batch=args.batch, out=args.out, save_txt=args.save_txt,
                      save_conf=args.save_conf, save_images=not args.no_images, threads=args.threads,
                      backend=args.backend, coco_json=args.coco_json, image_dir=args.image_dir,
                      device=args.device, allow_network=args.allow_network,
                      slicing=slice_settings(args, "predict"), corruption=_corruption(args))
    print(json.dumps(summary.to_dict(), indent=2))
    return 0


def _corruption(args: argparse.Namespace):
    """``--corruption NAME --severity S --seed N`` as a CorruptionSpec (None without --corruption)."""
    if args.corruption is None:
        return None
    from yololab.data.corrupted import CorruptionSpec

    return CorruptionSpec(args.corruption, args.severity, args.seed)


def _bench(args: argparse.Namespace) -> int:
    from yololab.deploy.bench import format_bench, run_bench
    from yololab.jsonfile import write_json

    result = run_bench(args.weights, args.backend, imgsz=args.imgsz, batch=args.batch, threads=args.threads,
                       runs=args.runs, warmup=args.warmup, image=args.sample, device=args.device)
    print(format_bench(result))
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


def _serve(args: argparse.Namespace) -> int:
    from yololab.deploy.serving.serve import ServeConfig, serve
    from yololab.eval.slicing import slice_settings

    config = ServeConfig(args.weights, imgsz=args.imgsz, conf=args.conf, iou=args.iou, max_det=args.max_det,
                         threads=args.threads, backend=args.backend, max_batch=args.max_batch,
                         max_wait_ms=args.max_wait_ms, max_upload_mb=args.max_upload_mb,
                         device=args.device, max_pixels=args.max_pixels, memory_mb=args.memory_mb,
                         slicing=slice_settings(args, "predict"))
    serve(config, host=args.host, port=args.port)
    return 0


def _common(p: argparse.ArgumentParser, imgsz: int | None) -> None:
    p.add_argument("--weights", required=True, help=".pt, .onnx, .xml (OpenVINO) or .torchscript")
    p.add_argument("--imgsz", "--img-size", "--img", dest="imgsz", type=int, default=imgsz,
                   help="square input size" + ("" if imgsz else " (default: the export's, else 640)"))
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: backend's)")
    p.add_argument("--device", default=DEFAULT_DEVICE,
                   help="auto (default: CUDA GPU 0 if available, else CPU), cpu, or one GPU index like 0. "
                        "torch runs on the GPU; onnxruntime only with onnxruntime-gpu; openvino and "
                        "torchscript on the CPU (auto falls back, saying so; an explicit GPU is an error)")


def _thresholds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conf", type=float, default=0.25, help="score threshold")
    p.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-det", type=int, default=300, help="detections kept per image")
    p.add_argument("--backend", default=None, choices=list(KINDS),
                   help="override the backend chosen from the file suffix")


def add_deploy_commands(sub: argparse._SubParsersAction) -> None:
    """Register export, predict, bench and serve on ``yololab``'s subparsers."""
    p = sub.add_parser("export", help="export a fused model (decoding in-graph) to ONNX/OpenVINO/TorchScript")
    p.add_argument("--weights", required=True, help="a yololab or upstream .pt")
    p.add_argument("--format", default="onnx", choices=["onnx", "openvino", "torchscript"])
    p.add_argument("--imgsz", "--img-size", "--img", dest="imgsz", type=int, default=640,
                   help="square input size")
    p.add_argument("--batch", type=int, default=1, help="the fixed batch of a --static export")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--dynamic", dest="dynamic", action="store_true", default=True,
                       help="free batch/height/width (the default): `yololab val` then scores the export "
                            "with the .pt's rect batches and gets the .pt's mAP")
    shape.add_argument("--static", dest="dynamic", action="store_false",
                       help="fixed --batch x 3 x --imgsz input, for runtimes and benchmarks that want fixed "
                            "shapes (faster on OpenVINO); `yololab val` scores it with square letterboxed "
                            "batches, a little lower than the .pt's rect batches")
    p.add_argument("--half", action="store_true", help="FP16 weights and compute")
    p.add_argument("--nms", action="store_true", help="append ONNX NonMaxSuppression (onnx/openvino)")
    p.add_argument("--conf", type=float, default=0.25, help="in-graph NMS score threshold")
    p.add_argument("--iou", type=float, default=0.45, help="in-graph NMS IoU threshold")
    p.add_argument("--max-det", type=int, default=300, help="in-graph NMS detections per image")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--out", default=None, help="output file (OpenVINO: folder)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the parity check against PyTorch (and, with --int8, the FP32 vs INT8 report)")
    p.add_argument("--int8", action="store_true",
                   help="INT8 post-training quantization, calibrated on training images of --data: "
                        "--format openvino: NNCF (fastest on CPUs with VNNI/AMX); onnx: ONNX Runtime static QDQ")
    p.add_argument("--data", default=None, help="data YAML: --int8 calibrates on its train split "
                                                "and reports FP32 vs INT8 mAP on its val split")
    p.add_argument("--calib-images", type=int, default=300, help="training images to calibrate on")
    p.add_argument("--calib-method", default="percentile", choices=["minmax", "percentile", "entropy"],
                   help="activation range estimation for --int8 --format onnx")
    p.add_argument("--int8-weights", default="s8-7bit", choices=["s8-7bit", "s8", "u8"],
                   help="weight scheme for --int8 --format onnx: s8-7bit (default: exact on every x86 "
                        "CPU), s8 (full range: saturates in ONNX Runtime on CPUs without VNNI, e.g. "
                        "AVX2-only), u8 (U8U8 kernels)")
    p.add_argument("--sample", default=None, metavar="IMAGE",
                   help="image for the parity check and the INT8 latency (default: a deterministic "
                        "synthetic picture)")
    p.set_defaults(func=_export)

    p = sub.add_parser("predict", help="detect objects in images, folders, globs, videos or .txt lists")
    _common(p, None)
    p.add_argument("--source", required=True, help="image, folder, glob, video or .txt list of paths")
    _thresholds(p)
    p.add_argument("--batch", type=int, default=4, help="images (with --slice: slices) per inference batch")
    add_slice_arguments(p, "predict")
    p.add_argument("--out", default="runs/predict", help="output folder")
    p.add_argument("--save-txt", action="store_true", help="also write YOLO txt labels")
    p.add_argument("--save-conf", action="store_true", help="scores in the txt labels")
    p.add_argument("--no-images", action="store_true", help="do not write annotated images/videos")
    p.add_argument("--coco-json", default=None, help="write this annotation file's image and category ids")
    p.add_argument("--image-dir", default=None, help="its image folder (default: --source)")
    p.add_argument("--corruption", default=None, metavar="NAME",
                   help="run on the images under this corruption (yololab.data.corruptions.NAMES) to see its effect")
    p.add_argument("--severity", type=int, default=3, help="severity 1-5 of --corruption (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of --corruption's random draws")
    p.add_argument("--allow-network", action="store_true",
                   help="let --source (or a line of a .txt list) be a URL or stream (http://, rtsp://...), "
                        "opened by OpenCV/FFmpeg; refused otherwise")
    p.set_defaults(func=_predict)

    p = sub.add_parser("bench", help="latency of preprocess, model and NMS, and throughput (CPU or GPU)")
    _common(p, 640)
    p.add_argument("--backend", default="torch", choices=list(KINDS),
                   help="openvino-bf16: OpenVINO with bfloat16 inference (fast on CPUs with AMX)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--sample", "--image", dest="sample", default=None, metavar="IMAGE",
                   help="image to time on (default: a deterministic synthetic picture)")
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.set_defaults(func=_bench)

    p = sub.add_parser("serve", help="HTTP detection server (FastAPI + uvicorn, micro-batched)")
    _common(p, None)
    _thresholds(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-batch", type=int, default=8, help="requests per batched inference")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="wait for more requests this long")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="larger uploads get 413")
    p.add_argument("--max-pixels", type=int, default=60_000_000,
                   help="pixel budget of one upload (width x height); larger images get 422")
    p.add_argument("--memory-mb", type=float, default=1024.0,
                   help="decode memory of all requests in flight (each reserves what its image needs, known "
                        "from its header); when it is in use, 503 with Retry-After. It also bounds how many "
                        "of the largest uploads decode at once (see /info)")
    add_slice_arguments(p, "predict")  # server-side: every request sliced, --max-batch slices at a time
    p.set_defaults(func=_serve)
