"""The training loop: ``train(TrainConfig) -> summary dict`` (upstream YOLOv5 train.py behaviour).

SGD with three parameter groups (+ backbone groups at a lr multiplier), iteration warm-up, linear or
cosine schedule, gradient accumulation to a nominal batch of 64, grad-norm clipping, EMA weights,
AMP on CUDA, validation of the EMA model, ``results.csv``, atomic ``last.pt``/``best.pt`` with the
full training state for an exact ``resume``, early stopping, and DDP under torchrun.

Reproducibility: every epoch reseeds the data order and augmentation from (seed, epoch, rank), and a
partial gradient accumulation is applied at the end of each epoch, so an epoch depends only on the
state saved in ``last.pt``: ``1 epoch + resume to 2`` gives the same weights as ``2 epochs``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import resource
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from yololab.config import save_yaml_config
from yololab.data import DetectionDataset, TiledDataset, collate_fn
from yololab.data.dataset import MOSAIC_KINDS, loader_worker_init
from yololab.data.imcache import check_cache_kind
from yololab.data.imaging.pixels import normalize_batch
from yololab.eval.results import ValResult
from yololab.eval.sliced_val import validate_sliced
from yololab.eval.slicing import SliceSettings
from yololab.eval.validate import ValSettings, validate
from yololab.errors import ConfigError
from yololab.models import Detector, build_model
from yololab.models.build import build_from_spec
from yololab.atomic import WriteError, confined_folder
from yololab.models.checkpoints import atomic_save, load_model, read_weights_only
from yololab.models.detector import ModelSpec
from yololab.train import distributed as ddp
from yololab.train.config import TrainConfig
from yololab.train.contract import EpochHook, TrainSummary
from yololab.train.data import TrainData, load_train_data
from yololab.train.ema import ModelEMA, unwrap
from yololab.train.freeze import freeze_backbone_stages
from yololab.train.hyp import scale_loss_gains
from yololab.train.loss import YOLOLoss
from yololab.train.optim import build_optimizer
from yololab.train.results import EarlyStopping, ResultsCSV, epoch_row, fitness
from yololab.train.run_folder import check_resume_matches, refuse_existing_run, save_failure_message
from yololab.train.runlock import RunLock, acquire_run_lock
from yololab.train.schedule import (
    accumulate_steps,
    build_scheduler,
    scaled_weight_decay,
    warmup_iterations,
    warmup_step,
)
from yololab.train.state import read_training_checkpoint, set_rng_state, training_checkpoint
from yololab.train.tracking import Tracking

LOG = logging.getLogger("yololab")


class NonFiniteLossError(ConfigError, RuntimeError):
    """The loss became NaN or infinite; the message names the epoch, the batch and its images.
    The run ended without a result rather than refusing its input: exit status 1."""

    exit_status = 1


def init_seeds(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; ``deterministic`` also asks torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of one epoch's data order and augmentation on one rank."""
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % 2**32


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: the peak allocated by torch; CPU: this process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def select_best(val_is_train: bool, best_on_train: bool) -> bool:
    """best.pt and early stopping follow the val metrics only when those are not measured on the training
    images, or when asked explicitly (``best_on_train``); otherwise last.pt is the run's result."""
    return not val_is_train or best_on_train


def _check_config(cfg: TrainConfig) -> None:
    for name in ("epochs", "imgsz", "batch", "nominal_batch", "val_every"):
        if int(getattr(cfg, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.freeze < 0 or cfg.close_mosaic < 0 or cfg.workers < 0:
        raise ValueError("freeze, close_mosaic and workers must be >= 0")
    check_cache_kind(cfg.cache)
    if cfg.mosaic_impl not in MOSAIC_KINDS:
        raise ValueError(f"mosaic_impl must be one of {', '.join(MOSAIC_KINDS)}, got {cfg.mosaic_impl!r}")
    if cfg.cache_processes < 0:
        raise ValueError(f"cache_processes must be >= 0, got {cfg.cache_processes}")
    if cfg.backbone_lr_mult < 0:
        raise ValueError(f"backbone_lr_mult must be >= 0, got {cfg.backbone_lr_mult}")


class Trainer:
    """One training run. ``Trainer(cfg).fit()`` is what :func:`train` does; the steps are methods."""

    def __init__(self, cfg: TrainConfig, on_epoch_end: EpochHook | None = None) -> None:
        _check_config(cfg)
        self.cfg = cfg
        self.on_epoch_end = on_epoch_end
        self.stopped_by_hook = False
        self.dist, self.device = ddp.init_distributed(cfg.device)
        self.main = self.dist.is_main
        self.out = Path(cfg.out)
        self.wdir = self.out / "weights"
        self.last, self.best = self.wdir / "last.pt", self.wdir / "best.pt"
        self.amp = bool(cfg.amp) and self.device.type == "cuda"
        if cfg.batch % self.dist.world_size:
            raise ValueError(f"batch {cfg.batch} must be a multiple of the number of processes "
                             f"({self.dist.world_size})")
        self.rank_batch = cfg.batch // self.dist.world_size
        self.run_lock: RunLock | None = None

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        cfg = self.cfg
        if self.main:  # one writer per run folder, before anything in it is read (resume) or written
            self.run_lock = acquire_run_lock(self.out)
            confined_folder(self.wdir, self.out, create=False)  # weights/ a link elsewhere: refused before any epoch
            if not cfg.resume and not cfg.exist_ok:
                refuse_existing_run(self.out)
            elif not cfg.resume:  # --exist-ok: start over, so no stale best.pt outlives the new run
                for old in (self.last, self.best):
                    old.unlink(missing_ok=True)
        init_seeds(cfg.seed, cfg.deterministic)
        if self.device.type == "cuda" and not cfg.deterministic:
            torch.backends.cudnn.benchmark = True  # fixed training shapes: let cuDNN pick its kernels
        ckpt = read_training_checkpoint(self.last) if cfg.resume else None
        self.data: TrainData = load_train_data(cfg.data, cfg.image_dir, cfg.val_data, cfg.val_image_dir,
                                               log=self.main)
        self.hyp = cfg.hyp
        self.aug = cfg.augment
        model = self._build_model(ckpt)
        if model.head.num_classes != self.data.nc:
            raise ValueError(f"the model predicts {model.head.num_classes} classes but {cfg.data} has "
                             f"{self.data.nc}")
        if cfg.imgsz % model.stride:
            raise ValueError(f"imgsz {cfg.imgsz} is not a multiple of the model stride {model.stride}")
        self.tiles = cfg.tiles or self.data.tiles  # the train config's own wins over the data YAML's
        if self.tiles is not None:
            self.tiles.check(model.stride)
            if self.main:
                LOG.info("tiled training: tiles of %d px (overlap %g, min_visibility %g%s); val is the sliced "
                         "full-image mAP", self.tiles.size, self.tiles.overlap, self.tiles.min_visibility,
                         ", whole images too" if self.tiles.whole_images else "")
        if cfg.sync_bn:
            model = ddp.convert_sync_bn(model, self.device, self.dist)
        if cfg.freeze:
            n = freeze_backbone_stages(model, cfg.freeze)
            LOG.info("froze the first %d backbone stages (%d parameters)", cfg.freeze, n)
        model.to(self.device).channels_last().train()
        self.ema = ModelEMA(model)
        weight_decay = scaled_weight_decay(self.hyp.weight_decay, cfg.batch, cfg.nominal_batch)
        self.optimizer = build_optimizer(model, self.hyp.lr0, self.hyp.momentum, weight_decay,
                                         cfg.backbone_lr_mult)
        self.scheduler = build_scheduler(self.optimizer, cfg.epochs, self.hyp.lrf,
                                         "cosine" if cfg.cos_lr else "linear")
        self.lf = self.scheduler.lr_lambdas[0]
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        loss_hyp = scale_loss_gains(self.hyp, len(model.head.strides), self.data.nc, cfg.imgsz)
        self.loss_fn = YOLOLoss.from_model(model, loss_hyp, cfg.assigner)
        self.start_epoch, best_fitness, best_epoch = 0, 0.0, 0
        if ckpt is not None:
            self.start_epoch, best_fitness, best_epoch = self._restore(ckpt, model)
        self.stopper = EarlyStopping(cfg.patience, best_fitness, best_epoch)
        self.best_fitness = best_fitness
        self.model = ddp.wrap_model(model, self.device, self.dist)
        self._build_loader()
        self.warmup_iters = (warmup_iterations(self.hyp.warmup_epochs, len(self.loader))
                             if self.hyp.warmup_epochs > 0 else 0)
        self.val_settings = ValSettings(image_size=cfg.imgsz, batch_size=max(1, min(32, self.rank_batch * 2)),
                                        conf_thres=cfg.val_conf, iou_thres=cfg.val_iou,
                                        workers=min(cfg.workers, 2),
                                        pixels=None if self.data.pixels.is_default else self.data.pixels)
        self.results = ResultsCSV(self.out / "results.csv", [g["name"] for g in self.optimizer.param_groups],
                                  self.out)
        if self.main:
            self.wdir.mkdir(parents=True, exist_ok=True)
            for stale in self.wdir.glob(".*.tmp"):  # left by a kill during an atomic save
                stale.unlink(missing_ok=True)
            save_yaml_config(cfg, self.out / "config.yaml", self.out)
            self.data.save_report(self.out / "data_report.json", self.out)
            self.results.start(self.start_epoch)
            self.tracking = Tracking(cfg, self.out, self.data.names, self.data.pixels)

    def release(self) -> None:
        """Let another process write the run folder (process exit does the same)."""
        if self.run_lock is not None:
            self.run_lock.release()

    def _build_model(self, ckpt: dict | None) -> Detector:
        cfg, names = self.cfg, self.data.names
        if ckpt is not None:  # resume: the architecture and the raw training weights of last.pt
            spec = ModelSpec.from_dict(ckpt["spec"])
            check_resume_matches(ckpt, cfg, self.data.nc, self.last)
            model = build_from_spec(spec)
            model.load_state_dict(ckpt["model_state"])
            LOG.info("resuming %s (%s backbone) from %s", spec.model, spec.backbone, self.last)
            return model
        channels = self.data.pixels.channels  # a checkpoint of another count gets its stem adapted (timm's rule)
        if cfg.weights:
            model = load_model(cfg.weights, num_classes=len(names), in_channels=channels).float()
            spec = model.spec
            if cfg.model and spec.model != cfg.model:
                LOG.warning("--weights %s holds a %s, not the requested %s: training the %s", cfg.weights,
                            spec.model, cfg.model, spec.model)
            if cfg.backbone and spec.backbone != cfg.backbone:
                LOG.warning("--weights %s has the %s backbone, not %s: keeping %s", cfg.weights,
                            spec.backbone, cfg.backbone, spec.backbone)
            spec.names = list(names)
            LOG.info("initialised %s (%s backbone) from %s", spec.model, spec.backbone, cfg.weights)
            return model.train()
        return build_model(cfg.model, cfg.backbone, len(names), cfg.pretrained_backbone, names,
                           in_channels=channels)

    def _restore(self, ckpt: dict, model: Detector) -> tuple[int, float, int]:
        """Optimizer, scheduler, scaler, EMA and RNG from last.pt; returns (start epoch, best fitness, best epoch)."""
        cfg = self.cfg
        start = int(ckpt["epoch"]) + 1
        if start >= cfg.epochs:
            raise ValueError(f"{self.last} already finished epoch {start} of {cfg.epochs}: nothing to resume "
                             f"(give a larger epochs to train longer)")
        saved_epochs = ckpt.get("train_config", {}).get("epochs")
        if saved_epochs not in (None, cfg.epochs):
            LOG.warning("resuming a %s-epoch run with epochs=%d: the lr schedule now ends at epoch %d",
                        saved_epochs, cfg.epochs, cfg.epochs)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except ValueError as err:
            raise ValueError(f"cannot resume from {self.last}: its optimizer does not match this run ({err}); "
                             f"keep backbone_lr_mult and freeze as they were") from None
        # the lr factor function is this run's (its epochs may differ from the checkpoint's)
        self.scheduler.load_state_dict({**ckpt["scheduler"], "lr_lambdas": [None] * len(self.scheduler.lr_lambdas)})
        for group in self.optimizer.param_groups:  # the schedule of this run's epochs
            group["lr"] = group["initial_lr"] * self.lf(start)
        if self.amp and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.ema.ema.load_state_dict(ckpt["state_dict"])
        self.ema.updates = int(ckpt["ema_updates"])
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])
        LOG.info("resumed at epoch %d of %d (best fitness %.4f)", start, cfg.epochs, float(ckpt["best_fitness"]))
        return start, float(ckpt["best_fitness"]), int(ckpt.get("best_epoch", start - 1))

    def _build_loader(self) -> None:
        cfg = self.cfg
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", 1))  # torchrun: each holds its own cache
        local_processes = max(local_processes, int(cfg.cache_processes))  # e.g. a comparison's concurrent cells
        options = dict(augment=True, aug=self.aug, rect=False, batch_size=self.rank_batch,
                       stride=unwrap(self.model).stride, cache=cfg.cache, cache_processes=local_processes,
                       mosaic=cfg.mosaic_impl, pixels=self.data.pixels)
        self.dataset = (TiledDataset(self.data.train, self.tiles, cfg.imgsz, **options) if self.tiles is not None
                        else DetectionDataset(self.data.train, cfg.imgsz, **options))
        self.mosaic = self.dataset.mosaic
        self.sampler = ddp.train_sampler(self.dataset, self.dist, cfg.seed)
        self.generator = torch.Generator()
        workers = max(0, min(cfg.workers, os.cpu_count() or 1))
        # workers are not persistent: each epoch's workers are seeded from that epoch's generator state
        self.loader = DataLoader(self.dataset, batch_size=self.rank_batch, shuffle=self.sampler is None,
                                 sampler=self.sampler, num_workers=workers, collate_fn=collate_fn,
                                 pin_memory=self.device.type == "cuda", generator=self.generator,
                                 worker_init_fn=loader_worker_init if workers > 0 else None)

    # ------------------------------------------------------------------ loop
    def fit(self) -> TrainSummary:
        cfg = self.cfg
        started = time.perf_counter()
        train_time, images_seen, epochs_run = 0.0, 0, 0
        metrics: dict | None = None
        last_val: dict | None = None
        if self.main:
            LOG.info("training %s for epochs %d..%d on %s (%d train%s / %d val images, batch %d, %d process(es))",
                     unwrap(self.model).spec.model, self.start_epoch, cfg.epochs - 1, self.device,
                     len(self.data.train), f" images in {len(self.dataset)} items" if self.tiles is not None else "",
                     len(self.data.val), cfg.batch, self.dist.world_size)
            if not self.selects_best:
                LOG.warning("no validation images (val_data): the val metrics come from the training images, so "
                            "they pick no best.pt and stop nothing early; last.pt is the result "
                            "(best_on_train: true / --best-on-train to select on the training images anyway)")
        for epoch in range(self.start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            losses, images = self.train_one_epoch(epoch)
            train_time += time.perf_counter() - t0
            images_seen += images
            epochs_run += 1
            lrs = {g["name"]: g["lr"] for g in self.optimizer.param_groups}
            self.scheduler.step()
            stop = False
            if self.main:
                final = epoch + 1 == cfg.epochs
                metrics = None
                if final or (epoch + 1) % cfg.val_every == 0 or \
                        epoch - self.stopper.best_epoch >= self.stopper.patience - 1:
                    metrics = self.validate_epoch().summary()  # the log record: results.csv, checkpoint, tracking
                    last_val = metrics
                    stop = self.stopper(epoch, fitness(metrics)) if self.selects_best else False
                    if self.on_epoch_end is not None and self.on_epoch_end(epoch, dict(metrics)):
                        stop = self.stopped_by_hook = True
                seconds = time.perf_counter() - t0
                try:
                    self.results.append(epoch, losses, metrics, lrs, seconds)
                except WriteError as err:
                    raise WriteError(save_failure_message(err, epoch, self.last, self.out), err.path,
                                     err.cause) from None
                self.save(epoch, metrics)
                self.tracking.epoch(epoch, epoch_row(losses, metrics, lrs, seconds), self.ema.ema,
                                    [r.path for r in self.data.val])
                self._log_epoch(epoch, losses, metrics, time.perf_counter() - t0)
            if ddp.broadcast_from_main(stop, self.device, self.dist):
                break
        main, seconds, peak = self.main, time.perf_counter() - started, peak_memory_mb(self.device)
        summary = TrainSummary(
            out=str(self.out),
            last=str(self.last),
            best=str(self.best) if self.best.is_file() else None,
            best_fitness=self.best_fitness,
            best_map50_95=self._best_map() if main else None,
            selects_best=self.selects_best,  # False: val metrics were on training images; last.pt is the result
            final_metrics=last_val or None,
            train_seconds=seconds,
            images_per_second=images_seen / train_time if train_time > 0 else 0.0,
            peak_memory_mb=peak,
            epochs_run=epochs_run,
            stopped_early=epochs_run < cfg.epochs - self.start_epoch,
            world_size=self.dist.world_size,
            stopped_by_hook=self.stopped_by_hook,
        )
        if main:
            if cfg.plots:
                self._plot()
            self.tracking.finish()
        return summary

    def train_one_epoch(self, epoch: int, max_batches: int | None = None) -> tuple[list[float], int]:
        """One pass over this rank's shard; returns (mean box/obj/cls loss over all ranks, images seen).

        ``max_batches`` stops early (benchmarks); ``self.batch_seconds`` gets each batch's wall time,
        data loading included.
        """
        cfg, model, device = self.cfg, self.model, self.device
        model.train()
        seed = epoch_seed(cfg.seed, epoch, self.dist.rank)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        self.generator.manual_seed(seed)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        self.dataset.mosaic = self.mosaic and epoch < cfg.epochs - cfg.close_mosaic
        nb = len(self.loader)
        last_opt_step = nb * epoch - 1
        mloss = torch.zeros(3, device=device)
        images = 0
        self.optimizer.zero_grad(set_to_none=True)
        bar = tqdm(self.loader, total=nb, disable=not (cfg.progress and self.main), leave=False,
                   bar_format="{l_bar}{bar:10}{r_bar}", dynamic_ncols=True)
        self.batch_seconds: list[float] = []
        tick = time.perf_counter()
        for i, (imgs, targets, paths, _) in enumerate(bar):
            if max_batches is not None and i >= max_batches:
                break
            ni = i + nb * epoch
            imgs = normalize_batch(imgs.to(device, non_blocking=True), self.data.pixels)
            accumulate = accumulate_steps(ni, self.warmup_iters, cfg.batch, cfg.nominal_batch)
            if ni <= self.warmup_iters:
                warmup_step(self.optimizer, ni, self.warmup_iters, epoch, self.lf, self.hyp)
            step_now = ni - last_opt_step >= accumulate or i == nb - 1
            sync = model.no_sync() if self.dist.enabled and not step_now else contextlib.nullcontext()
            with sync:
                with torch.autocast(device.type, enabled=self.amp):
                    loss, items = self.loss_fn(model(imgs), targets.to(device))
                if self.dist.enabled:
                    loss = loss * self.dist.world_size  # DDP averages gradients over ranks
                self._check_finite(loss, items, epoch, i, nb, paths)
                self.scaler.scale(loss).backward()
            if step_now:
                self.optimizer_step()
                last_opt_step = ni
            mloss = (mloss * i + items) / (i + 1)
            images += imgs.shape[0]
            now = time.perf_counter()
            self.batch_seconds.append(now - tick)
            tick = now
            if bar.disable is False:
                bar.set_description(f"{epoch}/{cfg.epochs - 1} box {mloss[0]:.4f} obj {mloss[1]:.4f} "
                                    f"cls {mloss[2]:.4f} n {targets.shape[0]} {imgs.shape[-1]}px")
        bar.close()
        losses = ddp.all_reduce_mean(mloss, self.dist)
        total = int(ddp.all_reduce_sum(torch.tensor([images], device=device), self.dist).item())
        return [float(v) for v in losses.tolist()], total

    def _check_finite(self, loss: torch.Tensor, items: torch.Tensor, epoch: int, batch: int, nb: int,
                      paths: tuple[str, ...]) -> None:
        bad = not bool(torch.isfinite(loss).item())
        if not ddp.any_rank(bad, self.device, self.dist):
            return
        if not bad:
            raise NonFiniteLossError(f"non-finite loss on another rank at epoch {epoch}, batch {batch}/{nb}; "
                                     f"training stopped")
        shown = ", ".join(paths[:8]) + (f" (+{len(paths) - 8} more)" if len(paths) > 8 else "")
        raise NonFiniteLossError(
            f"loss is {loss.item()} at epoch {epoch}, batch {batch} of {nb} (box/obj/cls = "
            f"{', '.join(f'{v:.4g}' for v in items.tolist())}); images of the batch: {shown}. "
            f"Training stopped; {self.last} keeps the last finished epoch. Try a lower lr0 (hyp), check "
            f"these images' labels, or turn AMP off.")

    def optimizer_step(self) -> None:
        """Unscale, clip, step, zero the gradients and update the EMA."""
        self.scaler.unscale_(self.optimizer)
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(self.model)

    @property
    def selects_best(self) -> bool:
        """Whether val metrics may pick best.pt and stop early: not when they come from the training
        images (a COCO JSON without val_data) unless ``best_on_train`` asks for it."""
        return select_best(self.data.val_is_train, self.cfg.best_on_train)

    @property
    def val_slicing(self) -> SliceSettings | None:
        """How val slices in tiled training: the tiles' size and overlap, val's merge (NMS on IOU 0.5), the
        whole-image pass only when whole images are trained on; None without tiles."""
        if self.tiles is None:
            return None
        return SliceSettings.for_val(self.tiles.size, overlap=self.tiles.overlap, full_pass=self.tiles.whole_images)

    def validate_epoch(self) -> ValResult:
        """The EMA model validated on the validation split (rank 0): COCO metrics and timings; in tiled
        training each val image is predicted slice by slice and scored whole (the full-image sliced mAP)."""
        if self.tiles is not None:
            return validate_sliced(self.ema.ema, self.data.val, self.data.names, self.val_settings, self.val_slicing,
                                   self.device, category_map=self.data.val_category_ids, progress=False,
                                   gt=self.data.val_gt)
        return validate(self.ema.ema, self.data.val, self.data.names, self.val_settings, self.device,
                        category_map=self.data.val_category_ids, progress=False, gt=self.data.val_gt)

    def save(self, epoch: int, metrics: dict | None) -> None:
        """last.pt every epoch; best.pt when this epoch's fitness is the best so far (both atomic)."""
        is_best = metrics is not None and self.selects_best and fitness(metrics) >= self.best_fitness
        if is_best:
            self.best_fitness = fitness(metrics)
        ckpt = training_checkpoint(
            ema_model=self.ema.ema, model=unwrap(self.model), optimizer=self.optimizer, scheduler=self.scheduler,
            scaler=self.scaler, ema_updates=self.ema.updates, epoch=epoch, best_fitness=self.best_fitness,
            best_epoch=self.stopper.best_epoch, config=self.cfg, hyp=self.hyp,
            metrics=metrics or None, pixels=self.data.pixels.to_dict())
        for path in (self.last, self.best) if is_best else (self.last,):
            try:
                atomic_save(ckpt, path, self.out)
            except WriteError as err:
                raise WriteError(save_failure_message(err, epoch, self.last, self.out), err.path, err.cause) from None

    def _log_epoch(self, epoch: int, losses: list[float], metrics: dict | None, seconds: float) -> None:
        text = f"epoch {epoch}/{self.cfg.epochs - 1}: loss box {losses[0]:.4f} obj {losses[1]:.4f} cls {losses[2]:.4f}"
        if metrics is not None:
            text += (f" | mAP50 {metrics['map50']:.4f} mAP50-95 {metrics['map50_95']:.4f} "
                     f"mAP75 {metrics['map75']:.4f}")
        LOG.info("%s | %.1f s", text, seconds)

    def _best_map(self) -> float | None:
        if not self.best.is_file():
            return None
        ckpt = read_weights_only(self.best)
        value = (ckpt.get("metrics") or {}).get("map50_95")
        return float(value) if value is not None else None

    def _plot(self) -> None:
        try:
            from yololab.train.plots import plot_results

            plot_results(self.out / "results.csv", self.out / "results.png")
        except Exception as err:  # noqa: BLE001 - a plot must never fail a finished run
            LOG.warning("could not plot %s: %s", self.out / "results.csv", err)


def train(cfg: TrainConfig, on_epoch_end: EpochHook | None = None) -> TrainSummary:
    """Train as ``cfg`` says; returns what the run did (the :class:`~yololab.train.contract.Trainer` contract).
    ``on_epoch_end(epoch, val_metrics) -> bool``: called after each validated epoch; True stops the run."""
    trainer = Trainer(cfg, on_epoch_end)
    ok = False
    try:
        trainer.setup()
        summary = trainer.fit()
        ok = True
        return summary
    finally:
        trainer.release()
        if ok:
            ddp.cleanup(trainer.dist)
        else:
            ddp.shutdown(trainer.dist)


__all__ = ["train", "Trainer", "EpochHook", "TrainSummary", "TrainConfig", "NonFiniteLossError", "init_seeds", "epoch_seed"]
