"""How long ``yololab demo`` will take here: a few timed YOLOv5n training steps, scaled by the demo's size.

The calibration trains the native model on random images at the demo's size and batch for a few steps
with the threads each concurrent cell gets, then multiplies by the steps, the cells and the rounds of
concurrent cells. ``OVERHEAD`` covers data loading, the loss's target assignment, the heavier swapped
backbones, validation, export and latency timing (fitted to measured demo runs; a rough figure).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

#: measured demo time / (calibrated step time x steps x rounds): data, assignment, other backbones, val,
#: latency. Fitted to one full demo on a busy 2-core AMD EPYC (load 9-13): 36.9 min measured, 818 ms per
#: calibrated step x 840 steps x 2 rounds = 22.9 min
OVERHEAD = 1.6
CALIBRATION_STEPS = 3


@dataclass(frozen=True)
class DemoEstimate:
    step_seconds: float      # one calibrated training step (native YOLOv5n, demo batch and size)
    steps_per_cell: int
    cells: int
    workers: int             # cells trained at the same time
    threads: int             # CPU threads per cell

    @property
    def seconds(self) -> float:
        rounds = math.ceil(self.cells / max(1, self.workers))
        return OVERHEAD * self.step_seconds * self.steps_per_cell * rounds

    def sentence(self) -> str:
        return (f"demo: expected to take about {minutes(self.seconds)} on this machine ({self.cells} cells x "
                f"{self.steps_per_cell} training steps, {self.workers} at a time with {self.threads} thread(s) each; "
                f"one step here {1000 * self.step_seconds:.0f} ms)")


def minutes(seconds: float) -> str:
    """'45 s' or '4.2 min'."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def time_training_step(imgsz: int, batch: int, threads: int, steps: int = CALIBRATION_STEPS) -> float:
    """Median seconds of a forward + backward + SGD step of a native YOLOv5n on random images."""
    import torch

    from yololab.models import build_model

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = build_model("yolov5n", None, 2).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.rand(batch, 3, imgsz, imgsz)
        times = []
        for _ in range(steps + 1):  # the first is warm-up
            start = time.perf_counter()
            loss = sum(out.float().square().mean() for out in model(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
        return sorted(times[1:])[len(times[1:]) // 2]
    finally:
        torch.set_num_threads(before)


def estimate_demo(imgsz: int, batch: int, epochs: int, num_train: int, cells: int, workers: int,
                  threads: int) -> DemoEstimate:
    steps = epochs * math.ceil(num_train / batch)
    return DemoEstimate(time_training_step(imgsz, batch, threads), steps, cells, workers, threads)
