"""``DatasetReport``: what the dataset checks found, counted per kind, logged once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields

LOG = logging.getLogger("yololab")

MAX_EXAMPLES = 3

#: Problem kinds -> what happened to the affected items. Any non-zero count triggers one warning.
PROBLEMS: dict[str, str] = {
    "missing_image": "listed image files that do not exist (skipped)",
    "corrupt_image": "unreadable or too small images (skipped)",
    "truncated_image": "truncated JPEGs (skipped)",
    "corrupt_label": "unreadable label files (image skipped)",
    "unsupported_file": "listed files that are not images (skipped)",
    "duplicate_image": "images listed more than once (kept once)",
    "label_conflict": "images sharing a label file with another image, same name with another suffix (both use it)",
    "orphan_label": "label files without an image (ignored, with their orphan_boxes boxes)",
    "missing_label": "images without a label file (kept as background images)",
    "malformed_line": "malformed label lines (dropped)",
    "out_of_range": "boxes with coordinates far outside [0, 1], i.e. not normalised (dropped)",
    "clipped": "boxes extending past the image border (clipped to it)",
    "degenerate_box": "boxes with zero width or height (dropped)",
    "class_out_of_range": "boxes with a class id outside [0, nc) (dropped)",
    "unknown_class": "VOC objects whose class name is not in names (dropped)",
    "duplicate_box": "duplicate boxes (removed)",
    "unknown_reference": "COCO annotations with an unknown image or category id (skipped)",
    "size_mismatch": "images whose size is a rescale of the annotation file's (boxes rescaled to the image)",
    "size_refused": "images whose aspect ratio differs from the annotation file's, e.g. rotated (skipped)",
}
#: Informational kinds: counted and shown in the summary, never a warning by themselves.
INFO: dict[str, str] = {
    "empty_label": "empty label files (background images)",
    "polygon_converted": "polygon labels converted to boxes",
    "crowd_box": "COCO crowd annotations (not trained on; the evaluator ignores detections on them)",
    "difficult_box": "VOC difficult objects (the evaluator ignores detections on them; trained on per voc_difficult)",
}


def pixel_format(channels: int, bits: int) -> str:
    """The report's name of a pixel format: '8-bit 3-channel', '16-bit 1-channel', ..."""
    return f"{bits}-bit {channels}-channel"


@dataclass
class DatasetReport:
    """Counts of everything the loader checked; ``examples`` holds the first few file names per kind."""

    images_listed: int = 0
    images: int = 0
    boxes: int = 0
    backgrounds: int = 0
    missing_image: int = 0
    corrupt_image: int = 0
    truncated_image: int = 0
    corrupt_label: int = 0
    unsupported_file: int = 0
    duplicate_image: int = 0
    label_conflict: int = 0
    orphan_label: int = 0
    orphan_boxes: int = 0
    missing_label: int = 0
    empty_label: int = 0
    malformed_line: int = 0
    out_of_range: int = 0
    clipped: int = 0
    degenerate_box: int = 0
    class_out_of_range: int = 0
    unknown_class: int = 0
    duplicate_box: int = 0
    polygon_converted: int = 0
    crowd_box: int = 0
    difficult_box: int = 0
    unknown_reference: int = 0
    size_mismatch: int = 0
    size_refused: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    #: images per pixel format, e.g. {"16-bit 1-channel": 120}; more than one key is a mixed split
    pixel_formats: dict[str, int] = field(default_factory=dict)

    def add_pixels(self, channels: int, bits: int) -> None:
        """Count one image of ``channels`` samples of ``bits`` bits."""
        key = pixel_format(channels, bits)
        self.pixel_formats[key] = self.pixel_formats.get(key, 0) + 1

    @property
    def mixed_pixels(self) -> bool:
        """More than one bit depth or channel count in the split."""
        return len(self.pixel_formats) > 1

    def add(self, kind: str, n: int = 1, example: str | None = None) -> None:
        """Count ``n`` items of ``kind`` and remember ``example`` (a file name, maybe with a detail)."""
        if n <= 0:
            return
        setattr(self, kind, getattr(self, kind) + n)
        if example is not None:
            ex = self.examples.setdefault(kind, [])
            if len(ex) < MAX_EXAMPLES:
                ex.append(example)

    @property
    def skipped_images(self) -> int:
        """Images that could not be used at all."""
        return (self.missing_image + self.corrupt_image + self.truncated_image + self.corrupt_label
                + self.size_refused)

    def issues(self) -> dict[str, int]:
        """Non-zero problem counts."""
        return {k: getattr(self, k) for k in PROBLEMS if getattr(self, k)}

    def merge(self, other: DatasetReport) -> DatasetReport:
        """Add ``other``'s counts and examples into this report (returns self)."""
        for key, n in other.pixel_formats.items():
            self.pixel_formats[key] = self.pixel_formats.get(key, 0) + n
        for f in fields(self):
            if f.name not in ("examples", "pixel_formats"):
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        for k, ex in other.examples.items():
            mine = self.examples.setdefault(k, [])
            mine.extend(ex[: max(0, MAX_EXAMPLES - len(mine))])
        return self

    def summary(self, name: str = "dataset") -> str:
        """A multi-line human summary: totals, then one line per non-zero kind with examples."""
        head = (f"{name}: {self.images} images ({self.backgrounds} background), {self.boxes} boxes "
                f"from {self.images_listed} listed")
        lines = [head]
        if self.pixel_formats and (self.mixed_pixels or set(self.pixel_formats) != {pixel_format(3, 8)}):
            parts = ", ".join(f"{n} {key}" for key, n in sorted(self.pixel_formats.items()))
            lines.append(f"  {'MIXED pixel formats' if self.mixed_pixels else 'pixels'}: {parts}")
        for kind, desc in {**PROBLEMS, **INFO}.items():
            n = getattr(self, kind)
            if n:
                ex = self.examples.get(kind)
                desc = desc.replace("orphan_boxes", str(self.orphan_boxes))
                lines.append(f"  {n} {desc}" + (f", e.g. {', '.join(ex)}" if ex else ""))
        return "\n".join(lines)

    def log(self, name: str = "dataset", logger: logging.Logger = LOG) -> None:
        """Log the summary once: a warning if any problem was found, info otherwise."""
        (logger.warning if self.issues() or self.mixed_pixels else logger.info)("%s", self.summary(name))
