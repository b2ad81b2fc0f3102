"""Optuna's side of a study: the RDB storage (SQLite by default, any SQLAlchemy URL), the seeded sampler
and the pruner, built from ``tune:``; used by the driver (study.py) and by each trial's worker (trial.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from yololab.errors import EnvError
from yololab.experiments.plan.tune_space import TuneSpec


def masked(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db"""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head or ":" not in head.split("://", 1)[1]:
        return url
    scheme, rest = head.split("://", 1)
    return f"{scheme}://{rest.split(':', 1)[0]}:***@{tail}"


def open_storage(url: str):
    """Optuna's RDB storage; SQLite waits for the file lock instead of failing when several processes write."""
    import optuna

    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as err:  # noqa: BLE001 - two processes creating the same new database race once
            race = any(word in str(err).lower() for word in ("constraint", "locked", "already exists"))
            if attempt == 4 or not race:
                raise storage_error(url, err) from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def storage_error(url: str, err: BaseException) -> EnvError:
    """A storage that cannot be opened, read or written, as one sentence naming it."""
    reason = " ".join(str(getattr(err, "orig", None) or err).split("\n")[0].split())
    return EnvError(f"the study storage {masked(url)} cannot be used: {reason} (a damaged, read-only or full "
                    f"database: free space or fix it, or give another --out or tune: storage)")


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn the database's errors (SQLAlchemy) inside the block into :func:`storage_error`."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as err:
        raise storage_error(url, err) from None


def make_sampler(tune: TuneSpec, offset: int = 0):
    import optuna

    seed = tune.seed + offset
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tune.startup_trials)


def make_pruner(tune: TuneSpec):
    """Successive halving (default) or Hyperband on the per-epoch val value; 'median', 'threshold', 'none'."""
    import optuna

    if tune.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=tune.min_resource,
                                                      reduction_factor=tune.reduction_factor)
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=tune.min_resource, max_resource=tune.epochs,
                                              reduction_factor=tune.reduction_factor)
    if tune.pruner == "threshold":  # dead trials: val still below prune_below after min_resource epochs
        return optuna.pruners.ThresholdPruner(lower=tune.prune_below, n_warmup_steps=tune.min_resource - 1)
    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=tune.startup_trials, n_warmup_steps=tune.min_resource)
    return optuna.pruners.NopPruner()
