"""Paired image-level bootstrap of COCO mAP: confidence intervals and p-values for "A beats B".

COCOeval's per-image matching (pycocotools ``evaluate()``: ``evalImgs`` at area "all", maxDets 100)
runs ONCE per result file; a bootstrap resample only changes how many times each image counts, so
:meth:`ImageMatches.map` re-runs just COCOeval's *accumulate* step with image weights, for a whole
matrix of resamples at a time.  That weighted accumulate is hand-written because no library offers
it: pycocotools and faster-coco-eval accumulate one unweighted image set, and re-running them per
resample (on images duplicated under new ids) costs a full evaluation each time.

With all weights 1 it reproduces COCO's mAP (``stats[0]``, ``stats[1]``); with integer weights it
equals COCO on the images duplicated that many times (ties in score between two detections of one
image and category may be ordered differently, as COCO's own tie order is arbitrary).

Hierarchical bootstrap (seeds x images): build one :class:`ImageMatches` per result file on the SAME
ground truth (their ``image_ids`` are then identical), draw one image-weight matrix ``W`` with
:func:`resample_weights`, and evaluate every file on it with :func:`map_many` -> arrays (files, B).
Resampling seeds is then a weighted mean over the files' rows per replicate (e.g. seed counts from
``rng.multinomial``), with no further COCO work.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import os
import zipfile
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from yololab.errors import DataError
from yololab.eval.coco import load_json
from yololab.eval.scoring_input import check_results

__all__ = ["ImageMatches", "resample_weights", "map_many", "bootstrap_matches", "bootstrap_map", "format_bootstrap"]

PathLike = str | os.PathLike
_ALL_AREA = [0.0, 1e5**2]  # COCOeval's "all" area range
_MAX_DETS = 100


def _eval_images(gt: dict, dt: list[dict], max_dets: int | None = None) -> Any:
    """pycocotools' per-image matching at area "all", ``max_dets`` per image (default COCO's 100; accumulate
    is never called)."""
    from pycocotools.coco import COCO  # only matching needs it: saved matches are re-weighted without it
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if dt:
            coco_dt = coco_gt.loadRes([dict(d) for d in dt])  # loadRes adds keys: keep the caller's dicts
        else:  # loadRes cannot take an empty list
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(gt.get("images", [])), "categories": list(gt.get("categories", [])),
                               "annotations": []}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [_ALL_AREA], ["all"], [max_dets or _MAX_DETS]
        ev.evaluate()
    return ev


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly
class ImageMatches:
    """COCOeval's per-image matches of one result file, laid out for weighted accumulation.

    Only "key" detections matter for AP: those that are a true positive at some IoU threshold.  Any
    other detection lowers precision at the next key detection but never changes the interpolated
    precision itself (its recall equals its predecessor's and its precision is no higher), so it is
    kept only as a count in the segment that ends at the next key detection of its category; those
    after a category's last key detection are dropped.
    Key detections are stored category by category (``block`` offsets), in COCO's score order.
    """

    image_ids: np.ndarray  # (I,) sorted GT image ids: the columns of every weight matrix
    cat_ids: np.ndarray  # (K,) GT category ids (COCO's order)
    iou_thresholds: np.ndarray  # (T,)
    rec_thresholds: np.ndarray  # (R,)
    gt_counts: np.ndarray  # (I, K) non-ignored ground truth per image and category
    blocks: np.ndarray  # (K + 1,) offsets of each category's key detections
    key_image: np.ndarray  # (P,) image index of each key detection
    key_tp: np.ndarray  # (T, P) key detection is a true positive at threshold t
    segments: sp.csr_matrix  # (P, I) detections per image in the segment ending at each key detection
    ignored: sp.csr_matrix | None  # (T * P, I) the same, counting only those ignored at threshold t
    num_detections: int

    @classmethod
    def from_coco(cls, gt: dict | PathLike, dt: list[dict] | PathLike, max_dets: int | None = None) -> ImageMatches:
        """Match detections ``dt`` to ground truth ``gt`` (dicts/lists or JSON paths) with pycocotools,
        ``max_dets`` per image (default COCO's 100, as ``score_coco``'s ``max_dets``)."""
        gt, dt = load_json(gt), load_json(dt)
        check_results(gt, dt)
        ev = _eval_images(gt, dt, max_dets)
        p = ev.params
        img_ids, cat_ids = np.asarray(p.imgIds, np.int64), np.asarray(p.catIds, np.int64)
        rec = np.asarray(p.recThrs, np.float64)
        if not np.allclose(rec, np.linspace(0, 1, len(rec)), rtol=0, atol=1e-12):
            raise ValueError(f"expected COCO's recall thresholds linspace(0, 1, {len(rec)}), got {rec[:4]}...")
        n_img, n_thr = len(img_ids), len(p.iouThrs)
        gt_counts = np.zeros((n_img, len(cat_ids)))
        blocks, key_image, key_tp = [0], [np.zeros(0, np.int64)], [np.zeros((n_thr, 0), bool)]
        seg_key, seg_img, ig_t, ig_key, ig_img = ([np.zeros(0, np.int64)] for _ in range(5))
        for k in range(len(cat_ids)):
            entries = [(i, e) for i, e in enumerate(ev.evalImgs[k * n_img:(k + 1) * n_img]) if e is not None]
            for i, e in entries:
                gt_counts[i, k] = np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
            offset = blocks[-1]
            if entries:
                scores = np.concatenate([np.asarray(e["dtScores"], np.float64) for _, e in entries])
                order = np.argsort(-scores, kind="mergesort")  # exactly COCOeval.accumulate's order
                image = np.concatenate([np.full(len(e["dtScores"]), i) for i, e in entries])[order]
                dtm = np.concatenate([e["dtMatches"].reshape(n_thr, -1) for _, e in entries], 1)[:, order]
                dtig = np.concatenate([e["dtIgnore"].reshape(n_thr, -1) for _, e in entries], 1)[:, order]
                dtig = dtig.astype(bool)
                tp = (dtm != 0) & ~dtig
                keys = np.flatnonzero(tp.any(0))
            else:
                keys = np.zeros(0, np.int64)
            if keys.size:
                n = keys[-1] + 1  # detections after the last key one never matter
                seg = np.searchsorted(keys, np.arange(n), side="left") + offset
                seg_key.append(seg)
                seg_img.append(image[:n])
                t_idx, d_idx = np.nonzero(dtig[:, :n])
                ig_t.append(t_idx)
                ig_key.append(seg[d_idx])
                ig_img.append(image[d_idx])
                key_image.append(image[keys])
                key_tp.append(tp[:, keys])
            blocks.append(offset + keys.size)
        n_key = blocks[-1]
        rows, cols = np.concatenate(seg_key), np.concatenate(seg_img)
        segments = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_key, n_img))  # duplicates add up
        ig_rows = np.concatenate(ig_t) * n_key + np.concatenate(ig_key)
        ignored = None if not ig_rows.size else sp.csr_matrix(
            (np.ones(len(ig_rows)), (ig_rows, np.concatenate(ig_img))), shape=(n_thr * n_key, n_img))
        return cls(
            image_ids=img_ids,
            cat_ids=cat_ids,
            iou_thresholds=np.asarray(p.iouThrs, np.float64),
            rec_thresholds=rec,
            gt_counts=gt_counts,
            blocks=np.asarray(blocks, np.int64),
            key_image=np.concatenate(key_image),
            key_tp=np.concatenate(key_tp, 1),
            segments=segments,
            ignored=ignored,
            num_detections=len(dt),
        )

    _ARRAYS = ("image_ids", "cat_ids", "iou_thresholds", "rec_thresholds", "gt_counts", "blocks", "key_image",
               "key_tp")

    def save(self, path: PathLike, root: PathLike | None = None) -> None:
        """Write the matches to ``path`` (.npz, atomically, confined to the folder ``root`` if given):
        re-weighting them later needs no COCO matching."""
        arrays: dict[str, np.ndarray] = {name: getattr(self, name) for name in self._ARRAYS}
        arrays["num_detections"] = np.asarray(self.num_detections)
        for name in ("segments", "ignored"):
            m = getattr(self, name)
            if m is not None:
                arrays.update({f"{name}_data": m.data, f"{name}_indices": m.indices, f"{name}_indptr": m.indptr,
                               f"{name}_shape": np.asarray(m.shape)})
        from yololab.atomic import atomic_write

        atomic_write(path, lambda handle: np.savez(handle, **arrays), root)

    @classmethod
    def load(cls, path: PathLike) -> ImageMatches:
        """Matches written by :meth:`save` (plain arrays: nothing in the file is executed); a damaged or
        foreign file is a :class:`~yololab.errors.DataError` naming it."""
        try:
            with np.load(path, allow_pickle=False) as z:
                def csr(name: str) -> sp.csr_matrix | None:
                    if f"{name}_data" not in z:
                        return None
                    return sp.csr_matrix((z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"]),
                                         shape=tuple(int(v) for v in z[f"{name}_shape"]))

                return cls(**{name: z[name] for name in cls._ARRAYS}, segments=csr("segments"),
                           ignored=csr("ignored"), num_detections=int(z["num_detections"]))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
            what = str(err.args[0]) if isinstance(err, KeyError) and err.args else type(err).__name__
            raise DataError(f"{path} is not a matches file written by yololab ({what}: damaged, or replaced); "
                            f"delete it and the report matches the cell's detections again") from None

    @property
    def _thr_pad(self) -> np.ndarray:
        return np.concatenate(([-np.inf], self.rec_thresholds, [np.inf]))

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    def map(self, weights: np.ndarray, max_bytes: int = 1 << 22) -> dict[str, np.ndarray]:
        """COCO ``map50_95`` and ``map50`` (arrays of shape (B,)) under image multiplicities
        ``weights`` (B, num_images), e.g. bootstrap counts; all ones gives COCO's own mAP.

        Categories whose weighted non-ignored ground truth is zero are left out, as COCO's -1; a row
        with no ground truth at all gives NaN.  Work goes in chunks (rows x category groups) of about
        ``max_bytes`` of temporaries: small, so that they stay in the CPU cache (larger is slower).
        """
        w = np.asarray(weights, np.float64)
        if w.ndim != 2 or w.shape[1] != self.num_images:
            raise ValueError(f"weights must have shape (B, {self.num_images}) (one column per image), got {w.shape}")
        if (w < 0).any():
            raise ValueError("weights must be non-negative image multiplicities")
        n_thr, n_rec = len(self.iou_thresholds), len(self.rec_thresholds)
        budget = max(1, max_bytes // (64 * n_thr))  # keys x rows per chunk (~8 float64 temporaries)
        sums = np.zeros((len(w), n_thr, len(self.cat_ids)))  # per category: sum over recall thresholds
        for k0, k1 in self._category_groups(budget):
            part = self._categories(k0, k1)
            rows = max(1, budget // max(int(part.blocks[-1]), 1))
            for s in range(0, len(w), rows):
                sums[s:s + rows, :, k0:k1] = part._precision_sums(w[s:s + rows])
        valid = (w @ self.gt_counts) > 0  # (B, K): COCO's -1 where a category has no ground truth
        n_valid = valid.sum(1)
        sums[~np.broadcast_to(valid[:, None, :], sums.shape)] = 0.0
        i50 = int(np.argmin(np.abs(self.iou_thresholds - 0.5)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"map50_95": sums.sum((1, 2)) / (n_thr * n_rec * n_valid),
                    "map50": sums[:, i50].sum(1) / (n_rec * n_valid)}

    def _category_groups(self, budget: int) -> list[tuple[int, int]]:
        """Consecutive category ranges of at most ``budget`` key detections (or one category)."""
        groups, k0 = [], 0
        for k in range(1, len(self.cat_ids) + 1):
            if k == len(self.cat_ids) or self.blocks[k + 1] - self.blocks[k0] > budget:
                groups.append((k0, k))
                k0 = k
        return groups

    def _categories(self, k0: int, k1: int) -> ImageMatches:
        """The same matches restricted to categories ``k0:k1``."""
        b0, b1, n_thr, n_key = int(self.blocks[k0]), int(self.blocks[k1]), len(self.iou_thresholds), int(self.blocks[-1])
        ignored = None
        if self.ignored is not None:
            rows = (np.arange(n_thr)[:, None] * n_key + np.arange(b0, b1)).ravel()
            ignored = self.ignored[rows]
        return ImageMatches(
            image_ids=self.image_ids, cat_ids=self.cat_ids[k0:k1], iou_thresholds=self.iou_thresholds,
            rec_thresholds=self.rec_thresholds, gt_counts=self.gt_counts[:, k0:k1],
            blocks=self.blocks[k0:k1 + 1] - b0, key_image=self.key_image[b0:b1], key_tp=self.key_tp[:, b0:b1],
            segments=self.segments[b0:b1], ignored=ignored, num_detections=self.num_detections,
        )

    def _precision_sums(self, w: np.ndarray) -> np.ndarray:
        """(B, T, K) sum over COCO's recall thresholds of the interpolated precision (0 where a
        category has no key detection)."""
        n_thr, n_key = len(self.iou_thresholds), int(self.blocks[-1])
        sums = np.zeros((len(w), n_thr, len(self.cat_ids)))
        if not n_key:
            return sums
        starts, ends = self.blocks[:-1], self.blocks[1:]
        nonempty = np.flatnonzero(ends > starts)
        first = starts[nonempty]

        def block_cumsum(x: np.ndarray) -> np.ndarray:
            """Cumulative sum within each category block (integer-valued floats: exact)."""
            c = np.cumsum(x, axis=-1)
            before = np.where(first > 0, c[..., np.maximum(first - 1, 0)], 0.0)
            return c - np.repeat(before, ends[nonempty] - first, axis=-1)

        tp = block_cumsum(w[:, None, self.key_image] * self.key_tp)  # (B, T, P)
        nonig = block_cumsum((self.segments @ w.T).T)[:, None, :]  # (B, 1, P)
        if self.ignored is not None:
            nonig = nonig - block_cumsum((self.ignored @ w.T).T.reshape(len(w), n_thr, n_key))
        npig = (w @ self.gt_counts)[:, None, np.repeat(np.arange(len(self.cat_ids)), ends - starts)]
        with np.errstate(divide="ignore", invalid="ignore"):
            rc = tp / npig
        pr = tp / (nonig + np.spacing(1))  # as COCOeval: tp / (fp + tp + eps), fp + tp exact here
        # COCO reads the precision envelope at the first detection with recall >= each threshold;
        # cnt = how many thresholds a detection's recall reaches, so it serves cnt - previous cnt.
        cnt = self._thresholds_reached(np.nan_to_num(rc, nan=-1.0))
        prev = np.concatenate((np.zeros_like(cnt[..., :1]), cnt[..., :-1]), axis=-1)
        prev[..., first] = 0
        env = np.empty_like(pr)
        for s, e in zip(first, ends[nonempty]):
            env[..., s:e] = np.maximum.accumulate(pr[..., s:e][..., ::-1], axis=-1)[..., ::-1]
        sums[..., nonempty] = np.add.reduceat(env * (cnt - prev), first, axis=-1)
        return sums

    def _thresholds_reached(self, rc: np.ndarray) -> np.ndarray:
        """``np.searchsorted(rec_thresholds, rc, side="right")`` (how many thresholds each recall
        reaches), several times faster: COCO's thresholds are ``linspace(0, 1, R)``, so
        ``floor(rc * (R - 1)) + 1`` is off by at most one, which one exact comparison each way fixes."""
        n = len(self.rec_thresholds)
        guess = np.floor(rc * (n - 1))
        np.clip(guess, -1, n - 1, out=guess)
        g = guess.astype(np.int64)
        g += 1  # index into thr_pad: -inf, thresholds..., +inf
        cnt = g + (self._thr_pad[g + 1] <= rc)
        cnt -= self._thr_pad[g] > rc
        return cnt


def resample_weights(n_images: int, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` bootstrap resamples of ``n_images`` images with replacement, as counts (n, n_images)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    draws = rng.integers(0, n_images, size=(n, n_images))
    flat = (draws + n_images * np.arange(n)[:, None]).ravel()
    return np.bincount(flat, minlength=n * n_images).reshape(n, n_images).astype(np.int32)


def map_many(matches: Sequence[ImageMatches], weights: np.ndarray) -> dict[str, np.ndarray]:
    """Every result file's mAP on the same image weights: arrays of shape (len(matches), B).

    All ``matches`` must come from the same ground truth (same ``image_ids``): that is what makes
    the replicates paired.
    """
    for m in matches[1:]:
        if not np.array_equal(m.image_ids, matches[0].image_ids):
            raise ValueError("paired evaluation needs ImageMatches built on the same ground truth images")
    rows = [m.map(weights) for m in matches]
    return {key: np.stack([r[key] for r in rows]) for key in ("map50_95", "map50")}


def percentile_ci(x: np.ndarray) -> list[float]:
    """95% percentile interval of bootstrap replicates (undefined replicates, NaN, left out)."""
    return [float(v) for v in np.nanpercentile(x, [2.5, 97.5])]


def bootstrap_p_value(delta: np.ndarray) -> float:
    """Two-sided bootstrap p of a difference: 2 min(P(d* <= 0), P(d* >= 0)), each counted as
    (count + 1) / (B + 1) so that a finite number of resamples never claims p = 0; capped at 1."""
    d = delta[~np.isnan(delta)]
    n = d.size + 1
    return float(min(1.0, 2 * min((np.sum(d <= 0) + 1) / n, (np.sum(d >= 0) + 1) / n)))


def bootstrap_matches(
    matches: ImageMatches, ref: ImageMatches | None = None, n: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """:func:`bootstrap_map` on already matched result files (same keys)."""
    if n < 1:
        raise ValueError(f"n (bootstrap resamples) must be >= 1, got {n}")
    files = [matches] if ref is None else [matches, ref]
    n_img = matches.num_images
    point = map_many(files, np.ones((1, n_img)))
    boot = map_many(files, resample_weights(n_img, n, seed))
    out: dict[str, Any] = {}
    for key in ("map50_95", "map50"):
        out[key] = float(point[key][0, 0])
        if ref is None:
            out[f"{key}_ci95"] = percentile_ci(boot[key][0])
        else:
            out[f"{key}_ref"] = float(point[key][1, 0])
            out[f"delta_{key}"] = out[key] - out[f"{key}_ref"]
            delta = boot[key][0] - boot[key][1]
            out[f"delta_{key}_ci95"] = percentile_ci(delta)
            out["p_value" if key == "map50_95" else "p_value_map50"] = bootstrap_p_value(delta)
    out.update(bootstrap=int(n), images=int(n_img), seed=int(seed))
    return out


def bootstrap_map(
    gt: dict | PathLike,
    dt: list[dict] | PathLike,
    dt_ref: list[dict] | PathLike | None = None,
    n: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Bootstrap over images of COCO mAP50-95 and mAP50 of ``dt`` (and, paired, of ``dt - dt_ref``).

    Images are resampled with replacement (``numpy.random.default_rng(seed)``), the same resamples
    for both files.  Point estimates are the plain COCO values.  Without ``dt_ref``: ``map50_95``,
    ``map50`` and their 95% percentile intervals ``map50_95_ci95``, ``map50_ci95``.  With ``dt_ref``:
    ``map50_95``, ``map50_95_ref``, ``delta_map50_95`` (dt - dt_ref), ``delta_map50_95_ci95``,
    ``p_value`` (two-sided, see :func:`bootstrap_p_value`) and the same for
    mAP50 (``p_value_map50``).  Always: ``bootstrap`` (n), ``images``, ``seed``.
    """
    if n < 1:
        raise ValueError(f"n (bootstrap resamples) must be >= 1, got {n}")
    gt = load_json(gt)
    if not any(not a.get("iscrowd", 0) for a in gt.get("annotations", [])):
        raise ValueError("the ground truth has no (non-crowd) annotations: there is no mAP to bootstrap")
    if dt_ref is None:
        return bootstrap_matches(ImageMatches.from_coco(gt, dt), None, n, seed)
    return bootstrap_matches(*match_pair(gt, dt, dt_ref), n, seed)


#: (gt, dt) for the forked child of :func:`match_pair` (inherited memory: nothing is pickled on the way in)
_PENDING: tuple[Any, Any] | None = None
#: below this many detections in the two files together, a second process costs more than it saves
PARALLEL_MIN_DETECTIONS = 200_000


def _match_pending(_: int) -> ImageMatches:
    assert _PENDING is not None
    return ImageMatches.from_coco(*_PENDING)


def match_pair(gt: Any, dt: Any, dt_ref: Any) -> tuple[ImageMatches, ImageMatches]:
    """Both files' matches. pycocotools' per-image matching is pure Python, so on a machine with two or
    more cores the reference file is matched in a forked process at the same time (its inputs are
    inherited, only the compact result comes back); elsewhere, or for small files, one after the other."""
    global _PENDING
    dt, dt_ref = load_json(dt), load_json(dt_ref)
    small = len(dt) + len(dt_ref) < PARALLEL_MIN_DETECTIONS
    if small or (os.cpu_count() or 1) < 2 or "fork" not in mp.get_all_start_methods():
        return ImageMatches.from_coco(gt, dt), ImageMatches.from_coco(gt, dt_ref)
    _PENDING = (gt, dt_ref)
    try:
        with mp.get_context("fork").Pool(1) as pool:
            ref = pool.map_async(_match_pending, [0])
            matches = ImageMatches.from_coco(gt, dt)
            return matches, ref.get()[0]
    finally:
        _PENDING = None


def _fmt_p(p: float, n: int) -> str:
    return f"p = {p:.3g}" + (" (the smallest p that many resamples can give)" if p <= 2 / (n + 1) else "")


def format_bootstrap(result: dict[str, Any]) -> str:
    """A few human-readable lines for a :func:`bootstrap_map` result."""
    n = result["bootstrap"]
    lines = [f"bootstrap over {result['images']} images ({n} resamples, seed {result['seed']}), 95% CI:"]
    for key, label, p_key in (("map50_95", "mAP50-95", "p_value"), ("map50", "mAP50", "p_value_map50")):
        if f"delta_{key}" in result:
            lo, hi = result[f"delta_{key}_ci95"]
            lines.append(f"  {label:<9} {result[key]:.4f} vs ref {result[f'{key}_ref']:.4f}  "
                         f"delta {result[f'delta_{key}']:+.4f} [{lo:+.4f}, {hi:+.4f}]  {_fmt_p(result[p_key], n)}")
        else:
            lo, hi = result[f"{key}_ci95"]
            lines.append(f"  {label:<9} {result[key]:.4f} [{lo:.4f}, {hi:.4f}]")
    return "\n".join(lines)
