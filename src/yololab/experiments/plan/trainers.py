"""Which trainer a cell or a tuning trial calls: any :class:`~yololab.train.contract.Trainer`, by default yololab's own.

A trainer travels to worker processes and Ray nodes pickled; a module-level function pickles by reference,
so a worker imports its module by the ordinary import machinery (no name lookup here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yololab.train.config import TrainConfig
    from yololab.train.contract import EpochHook, TrainSummary


def default_trainer(cfg: TrainConfig, on_epoch_end: EpochHook | None = None) -> TrainSummary:
    """``yololab.train.trainer.train``, imported when called (torch loads in the worker, not in the CLI)."""
    from yololab.train.trainer import train

    return train(cfg, on_epoch_end)
