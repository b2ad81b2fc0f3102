"""Draw detections on an image (OpenCV; RGB in, RGB out)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_PALETTE = [(255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49),
            (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187),
            (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255), (0, 24, 236),
            (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199)]


def draw_detections(image: np.ndarray, dets: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with boxes and ``name score`` labels for (n, 6) detections."""
    out = np.ascontiguousarray(image).copy()
    lw = max(round(sum(out.shape[:2]) / 2 * 0.003), 2)
    for x1, y1, x2, y2, score, cls in np.asarray(dets, np.float64).tolist():
        c = int(cls)
        color = _PALETTE[c % len(_PALETTE)]
        p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
        cv2.rectangle(out, p1, p2, color, lw, cv2.LINE_AA)
        label = f"{names[c] if 0 <= c < len(names) else c} {score:.2f}"
        tf = max(lw - 1, 1)
        w, h = cv2.getTextSize(label, 0, lw / 3, tf)[0]
        above = p1[1] - h - 3 >= 0
        q2 = (p1[0] + w, p1[1] - h - 3 if above else p1[1] + h + 3)
        cv2.rectangle(out, p1, q2, color, -1, cv2.LINE_AA)
        cv2.putText(out, label, (p1[0], p1[1] - 2 if above else p1[1] + h + 2), 0, lw / 3,
                    (255, 255, 255), tf, cv2.LINE_AA)
    return out
