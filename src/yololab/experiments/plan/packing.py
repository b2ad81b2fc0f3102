"""``cells_per_device``: how many cells of a comparison train at once on one device.

On a CPU one (the cores are shared anyway). On a GPU small detectors leave it idle between loader batches,
so several cells share it: 'auto' measures one cell's peak memory (one training step of the comparison's
largest model at its cells' batch and size, :func:`measure_cell_bytes`) and packs as many as fit in the device's
free memory with a margin, at most :data:`MAX_CELLS_PER_DEVICE`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from yololab.experiments.plan.spec import ExperimentSpec
from yololab.train.config import TrainConfig

LOG = logging.getLogger("yololab")
MAX_CELLS_PER_DEVICE = 8
MEMORY_MARGIN = 0.25  # one cell's peak is measured on a fresh device; fragmentation and the loader's pinned batches add to it


def cells_that_fit(free_bytes: int, cell_bytes: int, limit: int = MAX_CELLS_PER_DEVICE) -> int:
    """Cells of ``cell_bytes`` peak memory that fit in ``free_bytes`` with the margin (at least 1)."""
    if cell_bytes <= 0:
        return 1
    return max(1, min(limit, int(free_bytes // (cell_bytes * (1 + MEMORY_MARGIN)))))


def measure_cell_bytes(configs: Sequence[TrainConfig], device: str) -> int:
    """Peak CUDA memory of one training step (forward, loss, backward) of each model among ``configs`` (the
    first config of each) at its batch and size on ``device`` (the largest one), with AMP as the trainer uses it."""
    import torch

    from yololab.models.build import build_model
    from yololab.train.loss import YOLOLoss

    dev = torch.device(f"cuda:{device}")
    peak = 0
    first_of_each: dict[str, TrainConfig] = {}
    for cfg in configs:
        first_of_each.setdefault(cfg.model, cfg)
    for cfg in first_of_each.values():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        model = build_model(cfg.model, num_classes=80).to(dev).train()
        loss_fn = YOLOLoss.from_model(model, cfg.hyp)
        images = torch.rand(cfg.batch, 3, cfg.imgsz, cfg.imgsz, device=dev)
        targets = torch.tensor([[i, 0, 0.5, 0.5, 0.2, 0.2] for i in range(cfg.batch)], device=dev)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = loss_fn(model(images), targets)[0]
        loss.backward()
        torch.cuda.synchronize(dev)
        peak = max(peak, torch.cuda.max_memory_allocated(dev))
        del model, loss_fn, images, targets, loss
    torch.cuda.empty_cache()
    return int(peak)


def _free_bytes(device: str) -> int:
    import torch

    free, _ = torch.cuda.mem_get_info(int(device))
    return int(free)


def resolve_cells_per_device(spec: ExperimentSpec, configs: Sequence[TrainConfig],
                             measure: Callable[[Sequence[TrainConfig], str], int] = measure_cell_bytes,
                             free: Callable[[str], int] = _free_bytes) -> int:
    """``spec.cells_per_device`` as a number: as given, or 'auto' (1 on CPU; on GPUs what fits on the first
    of ``spec.devices``, one cell being the largest of ``configs``, the cells' resolved TrainConfigs)."""
    value = spec.cells_per_device
    if value != "auto":
        return int(value)
    gpus = [d for d in spec.devices if d != "cpu"]
    if not gpus:
        return 1
    try:
        per_cell = measure(configs, gpus[0])
        n = cells_that_fit(free(gpus[0]), per_cell)
    except Exception as err:  # noqa: BLE001 - a failed measurement must not stop the comparison
        LOG.warning("cells_per_device auto: could not measure a cell's memory (%s: %s); 1 per device",
                    type(err).__name__, err)
        return 1
    LOG.info("cells_per_device auto: one cell peaks at %.2f GB on GPU %s; %d per device", per_cell / 2**30,
             gpus[0], n)
    return n


def expand_devices(devices: Sequence[str], per_device: int) -> list[str]:
    """Each device entry repeated ``per_device`` times: one pool worker per entry."""
    return [d for d in devices for _ in range(per_device)]
