"""Distributed data parallel (DDP) plumbing for ``torchrun --nproc_per_node K -m yololab train ...``.

torchrun sets RANK / LOCAL_RANK / WORLD_SIZE; under torchrun the trainer joins the process group (gloo on
CPU, nccl on CUDA) even with one process, as upstream does (so one GPU exercises the whole DDP path), shards the training set with a ``DistributedSampler``, averages
gradients through DDP and keeps logging, validation and checkpoints on rank 0. Without torchrun every
helper here is a no-op, so the single-process path runs the same code.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from yololab.device import select_device

LOG = logging.getLogger("yololab")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    launched: bool = False  # started by torchrun (its rendezvous variables are set)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_env() -> DistInfo:
    """Read torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE)."""
    try:
        launched = all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))
        return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                        int(os.environ.get("WORLD_SIZE", 1)), launched)
    except ValueError as err:
        raise ValueError(f"bad torchrun environment (RANK/LOCAL_RANK/WORLD_SIZE): {err}") from None


def init_distributed(device: str) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; returns (info, this rank's device)."""
    info = dist_env()
    dev = select_device(device, info.local_rank, info.enabled)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=60))
        LOG.info("DDP: rank %d/%d (local %d) on %s, backend %s", info.rank, info.world_size,
                 info.local_rank, dev, backend)
    return info, dev


def wrap_model(model: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around ``model`` (already on ``device``) when distributed."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, output_device=device.index if ids else None)


def convert_sync_bn(model: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    """SyncBatchNorm for DDP on CUDA; on CPU (gloo) it is not supported and plain BN is kept."""
    if not info.enabled:
        LOG.warning("sync_bn ignored: not a distributed run")
        return model
    if device.type != "cuda":
        LOG.warning("sync_bn ignored: SyncBatchNorm needs CUDA; each CPU rank keeps its own BN statistics")
        return model
    LOG.info("using SyncBatchNorm")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def train_sampler(dataset: Dataset, info: DistInfo, seed: int) -> DistributedSampler | None:
    """Each rank's shard of the (shuffled) training set, or None for a single process."""
    if not info.enabled:
        return None
    return DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed)


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``value`` over all ranks (a copy; the input itself is untouched)."""
    if not info.enabled:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def all_reduce_sum(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if not info.enabled:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def any_rank(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is True on at least one."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_from_main(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. the early-stopping decision)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Final barrier, then leave the process group."""
    if info.enabled and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def shutdown(info: DistInfo) -> None:
    """Leave the process group after an error (no barrier: other ranks may be elsewhere)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
