"""``--device`` strings -> ``torch.device``: 'auto' (the default everywhere), 'cpu', '0', '0,1', 'cuda:1'.

'auto' takes CUDA device 0 (or the process's LOCAL_RANK-th GPU under torchrun) when CUDA is available,
else the CPU, as upstream YOLOv5 does; the caller logs the choice.
"""

from __future__ import annotations

import torch

DEFAULT_DEVICE = "auto"


def select_device(device: str | None = DEFAULT_DEVICE, local_rank: int = 0, distributed: bool = False) -> torch.device:
    """This process's device for ``device``.

    Several GPUs ('0,1') need one process per GPU (torchrun, ``distributed=True``); each rank takes the
    ``local_rank``-th of the listed ones (GPU ``local_rank`` when fewer are listed, as upstream).
    """
    text = str(device if device is not None else DEFAULT_DEVICE).strip().lower()
    if text == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", local_rank if distributed and local_rank < torch.cuda.device_count() else 0)
    text = text.replace("cuda:", "").replace("cuda", "0")
    if text in ("", "cpu"):
        return torch.device("cpu")
    try:
        ids = [int(d) for d in text.split(",") if d.strip() != ""]
    except ValueError:
        raise ValueError(f"--device {device!r}: expected 'auto', 'cpu', a GPU index like '0' "
                         f"or a list like '0,1'") from None
    if not torch.cuda.is_available():
        raise ValueError(f"--device {device!r} asks for CUDA but no CUDA device is available (use --device cpu)")
    if len(ids) > 1 and not distributed:
        raise ValueError(f"--device {device!r} lists {len(ids)} GPUs: launch one process per GPU with "
                         f"'torchrun --nproc_per_node {len(ids)} -m yololab train ...'")
    index = ids[local_rank] if distributed and len(ids) > local_rank else (local_rank if distributed else ids[0])
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {device!r}: CUDA device {index} does not exist "
                         f"({torch.cuda.device_count()} visible)")
    return torch.device("cuda", index)
