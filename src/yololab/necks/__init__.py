"""Feature pyramid necks; each takes [P3, P4, P5] and returns the three head inputs."""

from yololab.necks.yolov5_pan import YOLOv5PAN
from yololab.necks.yolov7_pan import YOLOV7_NECK_SPECS, YOLOv7PAN

__all__ = ["YOLOv5PAN", "YOLOv7PAN", "YOLOV7_NECK_SPECS"]
