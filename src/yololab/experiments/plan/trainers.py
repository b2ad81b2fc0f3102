"""Which trainer a cell or a tuning trial calls: a callable, or 'module:function' that a worker imports."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from yololab.train.config import TrainConfig

TrainFn = Callable[[TrainConfig], dict]
DEFAULT_TRAINER = "yololab.train.trainer:train"


def resolve_trainer(train_fn: TrainFn | str | None) -> TrainFn:
    """A callable, or 'module:function' (so worker processes can import it by name)."""
    if callable(train_fn):
        return train_fn
    ref = train_fn or DEFAULT_TRAINER
    module_name, _, func = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise RuntimeError(f"trainer {ref!r} is not available ({err}); is yololab.train.trainer installed?") \
            from err
    return getattr(module, func or "train")
