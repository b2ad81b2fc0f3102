"""``--device`` strings -> ``torch.device``: 'auto' (the default everywhere), 'cpu', '0', '0,1', 'cuda:1'.

:func:`parse_device` is the one reader of the text (every command's ``--device`` goes through it);
:func:`select_device` turns it into this process's device. 'auto' takes CUDA device 0 (or the
process's LOCAL_RANK-th GPU under torchrun) when CUDA is available, else the CPU, as upstream YOLOv5
does; the caller logs the choice. torch is imported only when a device is selected, so a command
line parser can name :data:`DEFAULT_DEVICE` without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: the default of every ``--device`` option and every function that takes a ``--device`` string
DEFAULT_DEVICE = "auto"


@dataclass(frozen=True)
class DeviceChoice:
    """A ``--device`` string as read: 'auto', the CPU, or the CUDA device indices it lists."""

    text: str  # as given (for messages)
    auto: bool = False
    gpus: tuple[int, ...] = ()  # () with auto False: the CPU

    @property
    def cpu(self) -> bool:
        return not self.auto and not self.gpus


def parse_device(device: str | None = DEFAULT_DEVICE) -> DeviceChoice:
    """Read a ``--device`` string (None = :data:`DEFAULT_DEVICE`); a malformed one is a ValueError naming it."""
    given = DEFAULT_DEVICE if device is None else str(device)
    text = given.strip().lower()
    if text == "auto":
        return DeviceChoice(given, auto=True)
    text = text.replace("cuda:", "").replace("cuda", "0")
    if text in ("", "cpu"):
        return DeviceChoice(given)
    try:
        gpus = tuple(int(d) for d in text.split(",") if d.strip() != "")
        if not gpus or min(gpus) < 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"--device {device!r}: expected 'auto', 'cpu', a GPU index like '0' "
                         f"or a list like '0,1'") from None
    return DeviceChoice(given, gpus=gpus)


def select_device(device: str | None = DEFAULT_DEVICE, local_rank: int = 0, distributed: bool = False) -> torch.device:
    """This process's device for ``device``.

    Several GPUs ('0,1') need one process per GPU (torchrun, ``distributed=True``); each rank takes the
    ``local_rank``-th of the listed ones (GPU ``local_rank`` when fewer are listed, as upstream).
    """
    import torch

    choice = parse_device(device)
    if choice.auto:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", local_rank if distributed and local_rank < torch.cuda.device_count() else 0)
    if choice.cpu:
        return torch.device("cpu")
    ids = choice.gpus
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
