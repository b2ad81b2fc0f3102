"""Data sets on disk: YOLO, COCO JSON and Pascal VOC formats, path rules and conversion."""
