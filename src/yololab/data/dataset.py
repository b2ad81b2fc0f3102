"""``DetectionDataset``: records -> letterboxed/augmented (image, labels, path, shapes), as upstream YOLOv5."""

from __future__ import annotations

import ctypes
import logging
import math
import os
import platform
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from yololab.data.augment import (
    AugmentConfig,
    keep_channels,
    augment_colour,
    letterbox,
    mixup,
    mosaic4,
    random_flip,
    random_perspective,
)
from yololab.data import imcache
from yololab.data.boxes import xywhn_to_xyxy, xyxy_to_xywhn
from yololab.data.imaging.images import read_image
from yololab.data.imaging.jpeg_scaled import read_image_scaled
from yololab.data.mosaic import new_output, plan_mosaic, render_tile, tile_region
from yololab.data.imaging.pixels import PixelSpec, convert_image
from yololab.data.records import ImageRecord
from yololab.errors import DataError

LOG = logging.getLogger("yololab")

Shapes = tuple[tuple[int, int], tuple[tuple[float, float], tuple[float, float]]]
MOSAIC_KINDS = ("warp", "canvas")  # one composed warp per tile (yololab.data.mosaic), or upstream's 2x canvas


def rect_batch_shapes(wh: np.ndarray, img_size: int, batch_size: int, stride: int,
                      pad: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upstream rectangular batching -> (order sorting images by h/w, batch index per sorted image, (nb, 2) [h, w]).

    Each batch's shape fits its most extreme aspect ratio: ceil(ratio * img_size / stride + pad) * stride.
    """
    wh = np.asarray(wh)
    n = len(wh)
    ar = wh[:, 1] / wh[:, 0]
    order = ar.argsort()  # the same (unstable) sort as upstream so that ties land in the same batches
    ar = ar[order]
    bi = np.floor(np.arange(n) / batch_size).astype(int)
    nb = int(bi[-1]) + 1
    shapes = np.ones((nb, 2))
    for i in range(nb):
        ari = ar[bi == i]
        lo, hi = ari.min(), ari.max()
        if hi < 1:
            shapes[i] = [hi, 1]
        elif lo > 1:
            shapes[i] = [1, 1 / lo]
    return order, bi, np.ceil(shapes * img_size / stride + pad).astype(int) * stride


def _chw_buffer(img: np.ndarray) -> np.ndarray | None:
    """An uninitialised (3, h, w) uint8 array for a 3-channel uint8 HWC image, else None."""
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return np.empty((3, *img.shape[:2]), dtype=np.uint8)
    return None


def hwc_to_chw(img: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A contiguous CHW copy of an HWC image: for C-contiguous 3-channel uint8 images one ``cv2.split`` into
    the planes of ``out`` (allocated when None; overwritten), several times faster than numpy's transposing
    copy; anything else through ``np.ascontiguousarray(img.transpose(2, 0, 1))``."""
    if img.flags.c_contiguous and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        if out is None or out.shape != (3, *img.shape[:2]) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            out = np.empty((3, *img.shape[:2]), dtype=np.uint8)
        cv2.split(img, [out[0], out[1], out[2]])
        return out
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def stack_images(ims: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.stack(ims, 0)`` of equal-shape uint8 images, into fresh memory chosen for the process.

    In a loader worker it is torch's default collation, which stacks into shared memory from the start, so
    that sending the batch to the training process does not copy it once more. Elsewhere it is memory that numpy
    allocates: numpy asks the kernel for huge pages on arrays of 4 MB and more (transparent huge pages in
    'madvise' mode), so a fresh batch costs a few page faults instead of one per 4 kB page (a large part of
    the collation's time at 640 on a virtual machine). Anything else: plain ``torch.stack``; a batch mixing
    sample types (a mixed split, which the data report flags) is promoted first (:func:`promote_images`).
    """
    ims = promote_images(ims)
    if torch.utils.data.get_worker_info() is not None:
        return torch.utils.data.default_collate(list(ims))
    first = ims[0]
    if not (first.dtype == torch.uint8 and all(im.dtype == torch.uint8 and im.shape == first.shape for im in ims)):
        return torch.stack(ims, 0)
    out = torch.from_numpy(np.empty((len(ims), *first.shape), dtype=np.uint8))
    return torch.stack(ims, 0, out=out)


def promote_images(ims: Sequence[torch.Tensor]) -> Sequence[torch.Tensor]:
    """Images of one sample type: uint8 among uint16 becomes uint16 (x 257, the same [0, 1] values under
    dtype normalisation); any integer among floats becomes float32 divided by its dtype's largest value."""
    kinds = {im.dtype for im in ims}
    if len(kinds) < 2:
        return ims
    if kinds == {torch.uint8, torch.uint16}:
        return [im.to(torch.int32).mul_(257).to(torch.uint16) if im.dtype == torch.uint8 else im for im in ims]
    return [im if im.dtype.is_floating_point else im.to(torch.float32) / float(torch.iinfo(im.dtype).max)
            for im in ims]


def check_channels(records: Sequence[ImageRecord], channels: int) -> None:
    """Refuse, before anything is decoded, an image whose checked channel count is not the data set's when
    that is not 3 (a 3-channel set takes every 8-bit photo as RGB, as it always did: grey replicated, alpha
    dropped; its TIFFs and DICOMs are checked when decoded)."""
    if channels == 3:
        return
    for r in records:
        if r.channels is not None and r.channels != channels:
            raise DataError(f"{r.path} has {r.channels} channel(s) but the data set has channels: {channels} "
                            f"(set channels in the data YAML to match its images)")


class DetectionDataset(Dataset):
    """YOLO detection dataset over :class:`ImageRecord` s.

    Items are (uint8 CHW RGB tensor, float (n, 6) [0, cls, cx, cy, w, h] labels normalised to the output
    image, path, shapes) with shapes = ((h0, w0), ((h / h0, w / w0), (pad w, pad h))) mapping output pixels
    back to the original image (None for mosaics). With ``rect`` the records are re-ordered by aspect ratio
    and each image gets its own letterbox shape (the stride multiple that fits its aspect ratio, plus
    ``pad``), so its detections do not depend on its neighbours; :meth:`equal_shape_batches` groups images
    of equal shape. ``rect_batches`` is upstream's batch-dependent mode instead: each consecutive
    ``batch_size`` block shares the shape of its most extreme image, so scores change with the batch
    size (use the same batch size and no shuffling in the loader). Without augmentation images are only
    ever scaled down (as upstream's val).
    ``cache`` 'auto', 'ram' or 'disk' keeps the decoded, resized images (:mod:`yololab.data.imcache`: shared
    .npy entries written once per machine and size; 'ram' also a copy in this process); its size is checked
    against this machine for ``cache_processes`` processes holding one RAM copy each.
    ``mosaic`` 'warp' (default) builds mosaics with one warp per tile from images decoded at reduced size
    where they are at least twice as large as needed (:mod:`yololab.data.mosaic`); 'canvas' is upstream's
    resize -> 2x canvas -> warp. Both draw the same labels from the same seed.
    ``pixels``: the data set's :class:`~yololab.data.imaging.pixels.PixelSpec` (default: 3-channel photos). Images
    keep their sample type (uint8, uint16, float32) and channel count through decoding, the cache, mosaic,
    warp, letterbox and flips; colour augmentation is HSV on 3-channel uint8 and per-channel levels
    otherwise (:func:`~yololab.data.augment.augment_colour`). Items are then (C, H, W) of that type.
    """

    def __init__(self, records: Sequence[ImageRecord], img_size: int = 640, augment: bool = False,
                 aug: AugmentConfig | None = None, rect: bool = False, batch_size: int = 16, stride: int = 32,
                 pad: float = 0.5, cache: str | None = None, cache_processes: int = 1, rect_batches: bool = False,
                 mosaic: str = "warp", pixels: PixelSpec | None = None):
        if not records:
            raise ValueError("DetectionDataset needs at least one image record")
        if img_size % stride:
            LOG.warning("img_size %d is not a multiple of stride %d", img_size, stride)
        self.img_size, self.augment, self.rect, self.stride = img_size, augment, rect, stride
        self.batch_size, self.pad = batch_size, pad
        self.rect_batches = rect and rect_batches
        self.aug = (aug or AugmentConfig()) if augment else aug
        self.mosaic = augment and not rect
        if mosaic not in MOSAIC_KINDS:
            raise ValueError(f"mosaic {mosaic!r}: expected one of {', '.join(MOSAIC_KINDS)}")
        self.mosaic_kind = mosaic
        self.mosaic_border = (-img_size // 2, -img_size // 2)
        self.pixels = pixels or PixelSpec()
        self.records = list(records)
        check_channels(self.records, self.pixels.channels)
        n = len(self.records)
        self.batch = np.floor(np.arange(n) / batch_size).astype(int)
        self.batch_shapes: np.ndarray | None = None
        if rect:
            wh = np.array([[r.width, r.height] for r in self.records])
            group = batch_size if self.rect_batches else 1  # one image per shape group: its own letterbox
            order, self.batch, self.batch_shapes = rect_batch_shapes(wh, img_size, group, stride, pad)
            self.records = [self.records[i] for i in order]
        self.im_files = [r.path for r in self.records]
        self.labels = [r.labels for r in self.records]
        self.shapes = np.array([[r.width, r.height] for r in self.records])  # (n, 2) wh, as upstream
        self._cache: list[tuple[np.ndarray, tuple[int, int]] | None] = [None] * n
        self._npy: list[os.PathLike] | None = None
        self.cache_choice = self._setup_cache(cache, cache_processes)
        self.cache = self.cache_choice.kind

    def __len__(self) -> int:
        return len(self.records)

    def equal_shape_batches(self) -> list[list[int]]:
        """Indices in order, cut into batches of at most ``batch_size`` images that share one shape."""
        shapes = [tuple(self.batch_shapes[b]) for b in self.batch]
        batches: list[list[int]] = []
        for i, shape in enumerate(shapes):
            if batches and len(batches[-1]) < self.batch_size and shapes[batches[-1][0]] == shape:
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches

    @staticmethod
    def _threads() -> int:
        return max(1, min(8, os.cpu_count() or 1))

    def _setup_cache(self, cache: str | None, processes: int) -> imcache.CacheChoice:
        """Resolve and fill the cache (:func:`imcache.choose_cache`); logs what was chosen and why."""
        if imcache.check_cache_kind(cache) is None:
            return imcache.CacheChoice(None, False, "cache: none")
        n = len(self.records)
        paths = [self._npy_path(i) for i in range(n)]
        choice = imcache.choose_cache(cache, self.records, self.img_size, paths, processes, self.pixels.channels,
                                      frames=[self._entry_shape(i)[:2] for i in range(n)])
        LOG.info("%d images at %d: %s", n, self.img_size, choice.reason)
        if choice.entries:
            self._fill_entries(paths)
        if choice.kind == "ram":
            self._fill_ram(paths if choice.entries else None)
        elif choice.kind == "disk":
            self._npy = paths
        return choice

    def _fill_ram(self, paths: Sequence[os.PathLike] | None) -> None:
        """This process's copy of every image: read from the shared entries, or decoded where there are none."""
        def load(i: int) -> tuple[np.ndarray, tuple[int, int]]:
            im = (imcache.load_npy(paths[i], self._entry_shape(i), dtype=self._entry_dtype(i))
                  if paths is not None else None)
            if im is None:
                return self._read_resized(i)
            return im, (self.records[i].height, self.records[i].width)

        with ThreadPoolExecutor(self._threads()) as pool:  # decoding and resizing release the GIL
            self._cache = list(pool.map(load, range(len(self.records))))

    def _fill_entries(self, paths: Sequence[os.PathLike]) -> None:
        """Write the missing .npy entries, one folder at a time under its fill lock (written once per machine)."""
        by_folder: dict[os.PathLike, list[int]] = {}
        for i, p in enumerate(paths):
            by_folder.setdefault(p.parent, []).append(i)
        for folder in sorted(by_folder):
            with imcache.fill_lock(folder):
                imcache.remove_partial_entries(folder)  # left by a fill that was killed
                problems = {i: imcache.entry_problem(paths[i], self._entry_shape(i), self._entry_dtype(i))
                            for i in by_folder[folder]}
                todo = [i for i, problem in problems.items() if problem is not None]
                for i in todo:
                    if problems[i] != "missing":  # wrong or unreadable: reported once, redone now
                        imcache.report_entry(paths[i], problems[i])
                if todo:
                    LOG.info("decoding %d images into %s", len(todo), folder)

                def write(i: int) -> None:
                    imcache.save_npy(paths[i], self._read_resized(i)[0])

                with ThreadPoolExecutor(self._threads()) as pool:
                    list(pool.map(write, todo))

    def _decode(self, i: int) -> np.ndarray:
        """Image ``i`` as decoded from its file (full size; RGB for 8-bit photos)."""
        path = self.records[i].path
        return read_image(path) if self.pixels.is_default else read_image(path, self.pixels)

    def _entry_shape(self, i: int) -> tuple[int, int, int]:
        """The (h, w, channels) a cache entry of image ``i`` must hold."""
        return imcache.entry_shape(self.records[i], self.img_size, self.pixels.channels)

    def _entry_dtype(self, i: int) -> str | None:
        """The sample type a cache entry of image ``i`` must hold (None: its record does not say)."""
        return self.records[i].dtype

    def _npy_path(self, i: int):
        """The .npy entry of image ``i`` (a record's index)."""
        return imcache.npy_path(self.records[i].path, self.img_size, imcache.cv2_interpolation(self.augment),
                                self.pixels)

    def _read_resized(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Image ``i`` (a record's index) decoded and resized to its entry's shape -> (image, (h0, w0))."""
        im = self._decode(i)
        h0, w0 = im.shape[:2]
        rec = self.records[i]
        h, w = self._entry_shape(i)[:2] if (h0, w0) == (rec.height, rec.width) else \
            imcache.resized_hw(w0, h0, self.img_size)  # a file that changed since it was checked
        if (h, w) != (h0, w0):
            interp = cv2.INTER_LINEAR if (self.augment or h > h0) else cv2.INTER_AREA
            im = keep_channels(cv2.resize(im, (w, h), interpolation=interp), im)
        return im, (h0, w0)

    def load_image(self, i: int, copy: bool = True) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """Image ``i`` (RGB) resized so its long side is ``img_size`` -> (image, (h0, w0), (h, w)).

        ``copy=False`` may return the RAM cache's own array: only for callers that do not write to it.
        """
        im, hw0 = self._load_frame(i, copy)
        return im, hw0, im.shape[:2]

    def _load_frame(self, i: int, copy: bool = True) -> tuple[np.ndarray, tuple[int, int]]:
        """Record ``i``'s cached frame (its entry's shape) -> (image, (h0, w0)): from RAM, the .npy entry or
        decoded."""
        cached = self._cache[i]
        if cached is not None:
            im, hw0 = (cached[0].copy() if copy else cached[0]), cached[1]
        else:
            im = (imcache.load_npy(self._npy[i], self._entry_shape(i), redo=lambda: self._read_resized(i)[0],
                                   dtype=self._entry_dtype(i))
                  if self._npy is not None else None)
            if im is not None:
                hw0 = (self.records[i].height, self.records[i].width)
            else:
                im, hw0 = self._read_resized(i)
        return im, hw0

    def _frame_hw(self, i: int) -> tuple[int, int]:
        """(h, w) of image ``i`` resized for ``img_size`` (known from its record, before any decoding)."""
        cached = self._cache[i]
        if cached is not None:
            return cached[0].shape[:2]
        return imcache.resized_hw(self.records[i].width, self.records[i].height, self.img_size)

    def _mosaic_source(self, i: int, min_long: int) -> np.ndarray:
        """Image ``i`` at any size whose long side is at least ``min_long`` (read-only): the cached frame,
        else decoded at reduced size where the file allows it."""
        cached = self._cache[i]
        if cached is not None:
            return cached[0]
        if self._npy is not None:
            im = imcache.load_npy(self._npy[i], self._entry_shape(i), mmap=True,
                                  redo=lambda: self._read_resized(i)[0], dtype=self._entry_dtype(i))
            if im is not None:
                return im
        if self.pixels.channels != 3:
            return self._decode(i)
        return read_image_scaled(self.records[i].path, min_long)

    def _load_mosaic(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        picks = [index, *rng.integers(0, len(self), 3).tolist()]
        rng.shuffle(picks)
        labels = [self.labels[i] for i in picks]
        if self.mosaic_kind == "canvas":
            images = [self.load_image(i, copy=False)[0] for i in picks]  # mosaic4 copies them onto its canvas
            img, labels = mosaic4(images, labels, self.img_size, rng)
            return random_perspective(img, labels, self.aug, rng, border=self.mosaic_border)
        plan = plan_mosaic([self._frame_hw(i) for i in picks], labels, self.img_size, self.aug, rng)
        min_long = math.ceil(self.img_size * min(1.0, plan.scale))  # what the output resolves of a tile
        img = None
        for i, tile in zip(picks, plan.tiles):
            region = tile_region(plan, tile)
            if region is not None:  # a tile out of sight is not decoded
                src = self._mosaic_source(i, min_long)
                if img is None:  # the first tile in sight sets the sample type
                    img = new_output(plan, src.shape[2] if src.ndim == 3 else 1, src.dtype)
                render_tile(img, plan, tile, convert_image(src, img.dtype), region)
        if img is None:
            img = new_output(plan, self.pixels.channels, self._dtype_hint())
        return img, plan.labels

    def _dtype_hint(self) -> np.dtype:
        """The sample type the records say the images decode to (uint8 when they do not say)."""
        kinds = {r.dtype for r in self.records[:64] if r.dtype}
        return np.dtype(kinds.pop()) if len(kinds) == 1 else np.dtype(np.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str, Shapes | None]:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item())) if self.augment else None
        aug = self.aug
        if self.mosaic and rng.random() < aug.mosaic:
            img, labels = self._load_mosaic(index, rng)
            shapes = None
            if rng.random() < aug.mixup:
                img, labels = mixup(img, labels, *self._load_mosaic(int(rng.integers(len(self))), rng), rng)
        else:
            img, (h0, w0), (h, w) = self.load_image(index)
            shape = self.batch_shapes[self.batch[index]] if self.rect else self.img_size
            img, ratio, pad = letterbox(img, shape, auto=False, scaleup=self.augment)
            shapes = ((h0, w0), ((h / h0 * ratio[1], w / w0 * ratio[0]), pad))
            labels = self.labels[index].copy()
            if len(labels):
                labels[:, 1:] = xywhn_to_xyxy(labels[:, 1:], ratio[0] * w, ratio[1] * h, pad[0], pad[1])
            if self.augment:
                img, labels = random_perspective(img, labels, aug, rng)
        labels = np.asarray(labels, dtype=np.float32).reshape(-1, 5)
        if len(labels):
            labels[:, 1:5] = xyxy_to_xywhn(labels[:, 1:5], img.shape[1], img.shape[0], clip=True, eps=1e-3)
        chw = None
        if self.augment:
            img = np.ascontiguousarray(img)
            chw = _chw_buffer(img)  # the item's memory, first the HSV planes' scratch
            augment_colour(img, aug, rng, planes=chw)
            img = random_flip(img, labels, aug, rng, in_place=True)
        out = torch.zeros((len(labels), 6))
        if len(labels):
            out[:, 1:] = torch.from_numpy(labels)
        return torch.from_numpy(hwc_to_chw(img, chw)), out, self.im_files[index], shapes

    @staticmethod
    def collate_fn(batch: Sequence[tuple]) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...], tuple]:
        """Stack images, concatenate labels with column 0 set to the image's index in the batch."""
        ims, labels, paths, shapes = zip(*batch)
        for i, lb in enumerate(labels):
            lb[:, 0] = i
        return stack_images(ims), torch.cat(labels, 0), paths, shapes


collate_fn = DetectionDataset.collate_fn


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
WORKER_MMAP_THRESHOLD = 32 << 20  # glibc's largest: every image and item array comes from the heap
WORKER_TRIM_THRESHOLD = 1 << 30  # freed memory stays with the process up to this much at the heap's top


def retain_freed_memory(mmap_threshold: int = WORKER_MMAP_THRESHOLD,
                        trim_threshold: int = WORKER_TRIM_THRESHOLD) -> bool:
    """Let glibc's malloc keep the memory that this process frees, for its next allocations (False where
    the C library is not glibc, nothing changed).

    A loader item allocates arrays of about 1.2 MB (at 640) that live until collation; by default glibc maps
    or trims them back to the kernel, so each item's arrays come back as fresh pages, zeroed by the kernel
    one 4 kB page fault at a time: about 330 faults per item at 640, roughly a quarter of an item's CPU time
    on a virtual machine with the images cached in RAM. With these thresholds the process reuses its own
    freed memory; its resident size stays at its peak (a few batches) instead of shrinking between batches.
    Process-wide: meant for loader worker processes, which only load data.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a C library without mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))


def loader_worker_init(worker_id: int) -> None:
    """A loader worker's OpenCV runs on one thread: the workers are the parallelism (as upstream sets it),
    so that ``workers`` processes use ``workers`` cores and no more; and the worker keeps the memory it
    frees for its next items (:func:`retain_freed_memory`)."""
    cv2.setNumThreads(0)
    retain_freed_memory()


def create_dataloader(dataset: Dataset, batch_size: int, shuffle: bool = False, workers: int = 0,
                      sampler: Sampler | None = None, seed: int | None = None,
                      drop_last: bool = False) -> DataLoader:
    """A DataLoader with :func:`collate_fn`, persistent workers when ``workers > 0`` and pinned memory on CUDA.

    Rectangular datasets need the dataset's own batch size and no shuffling; with per-image shapes the
    loader batches only images of equal shape (:meth:`DetectionDataset.equal_shape_batches`).
    """
    if getattr(dataset, "rect", False):
        if batch_size != dataset.batch_size:
            raise ValueError(f"rect dataset was batched for batch_size={dataset.batch_size}, got {batch_size}")
        if shuffle:
            LOG.warning("rectangular batches are incompatible with shuffling; shuffle=False")
            shuffle = False
        if sampler is not None:
            LOG.warning("a sampler with rectangular batches can mix shapes within a batch")
    if sampler is not None:
        shuffle = False  # the sampler decides the order
    workers = max(0, min(workers, os.cpu_count() or 1))
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    if getattr(dataset, "rect", False) and not dataset.rect_batches and sampler is None:
        return DataLoader(dataset, batch_sampler=dataset.equal_shape_batches(), num_workers=workers,
                          pin_memory=torch.cuda.is_available(), collate_fn=collate_fn,
                          persistent_workers=workers > 0, worker_init_fn=loader_worker_init if workers > 0 else None)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, sampler=sampler, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), collate_fn=collate_fn, drop_last=drop_last,
                      persistent_workers=workers > 0, generator=generator,
                      worker_init_fn=loader_worker_init if workers > 0 else None)
