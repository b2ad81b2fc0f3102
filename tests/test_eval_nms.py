"""non_max_suppression vs a brute-force greedy NMS and hand-made cases."""

from __future__ import annotations

import pytest
import torch

from yololab.eval.nms import non_max_suppression


def _row(cx, cy, w, h, obj, cls_probs):
    return [cx, cy, w, h, obj, *cls_probs]


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _brute_force(img, conf, iou_thres, max_det, multi_label, agnostic, classes):
    """Upstream semantics spelled out one box at a time."""
    nc = len(img[0]) - 5
    multi_label = multi_label and nc > 1
    cands = []
    for cx, cy, w, h, obj, *probs in img:
        if obj <= conf:
            continue
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        scores = [obj * p for p in probs]
        best = max(range(nc), key=scores.__getitem__)
        picks = [c for c, s in enumerate(scores) if s > conf] if multi_label else [best]
        cands += [(box, scores[c], c) for c in picks if scores[c] > conf and (classes is None or c in classes)]
    cands.sort(key=lambda t: -t[1])
    kept = []
    for box, s, c in cands:
        if len(kept) == max_det:  # the greedy loop only appends, so later boxes cannot matter
            break
        if all(_iou(box, kb) <= iou_thres for kb, _, kc in kept if agnostic or kc == c):
            kept.append((box, s, c))
    return [[*b, s, float(c)] for b, s, c in kept]


@pytest.mark.parametrize("multi_label", [True, False])
@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize("classes", [None, [1, 3]])
def test_matches_brute_force_random(multi_label, agnostic, classes):
    g = torch.Generator().manual_seed(0)
    bs, n, nc = 3, 60, 4
    centres = torch.rand(bs, 6, 2, generator=g) * 100
    pick = torch.randint(0, 6, (bs, n), generator=g)
    xy = torch.gather(centres, 1, pick[..., None].expand(-1, -1, 2)) + torch.randn(bs, n, 2, generator=g) * 3
    wh = 10 + torch.rand(bs, n, 2, generator=g) * 20
    pred = torch.cat([xy, wh, torch.rand(bs, n, 1 + nc, generator=g)], -1).double()
    before = pred.clone()
    out = non_max_suppression(pred, conf_thres=0.05, iou_thres=0.45, max_det=25, multi_label=multi_label,
                              agnostic=agnostic, classes=classes)  # fmt: skip
    assert torch.equal(pred, before)  # input untouched
    for img, got in zip(pred.tolist(), out):
        want = torch.tensor(_brute_force(img, 0.05, 0.45, 25, multi_label, agnostic, classes)).reshape(-1, 6)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want.float(), atol=1e-4, rtol=1e-5)


def test_same_class_overlap_suppressed_other_class_kept():
    pred = torch.tensor(
        [
            [
                _row(50, 50, 20, 20, 0.9, [0.9, 0.1]),  # A: class 0, score .81
                _row(51, 50, 20, 20, 0.8, [0.9, 0.0]),  # overlaps A, class 0 -> suppressed
                _row(50, 51, 20, 20, 0.9, [0.0, 0.8]),  # overlaps A but class 1 -> kept
                _row(150, 150, 10, 10, 0.5, [0.6, 0.0]),  # far away, class 0 -> kept
            ]
        ]
    )
    (out,) = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45)
    assert out.shape == (3, 6)
    torch.testing.assert_close(out[:, 4], torch.tensor([0.81, 0.72, 0.30]))
    assert out[:, 5].tolist() == [0.0, 1.0, 0.0]
    torch.testing.assert_close(out[0, :4], torch.tensor([40.0, 40.0, 60.0, 60.0]))
    # agnostic: the class-1 box overlapping A goes too
    (agn,) = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45, agnostic=True)
    assert agn[:, 4].tolist() == pytest.approx([0.81, 0.30])


def test_multi_label_keeps_every_class_above_conf():
    pred = torch.tensor([[_row(50, 50, 20, 20, 0.5, [0.8, 0.6, 0.001])]])
    (ml,) = non_max_suppression(pred, conf_thres=0.1, multi_label=True)
    assert ml[:, 5].tolist() == [0.0, 1.0] and ml[:, 4].tolist() == pytest.approx([0.4, 0.3])
    (single,) = non_max_suppression(pred, conf_thres=0.1, multi_label=False)
    assert single[:, 5].tolist() == [0.0]


def test_conf_filtering_objectness_first_then_score():
    pred = torch.tensor(
        [
            [
                _row(10, 10, 5, 5, 0.2, [1.0, 0.0]),  # obj <= conf -> dropped before anything
                _row(50, 50, 5, 5, 0.5, [0.5, 0.0]),  # obj ok, score .25 > .21 -> kept
                _row(90, 90, 5, 5, 0.5, [0.4, 0.0]),  # obj ok, score .20 < .21 -> dropped
            ]
        ]
    )
    (out,) = non_max_suppression(pred, conf_thres=0.21)
    assert out[:, 4].tolist() == pytest.approx([0.25])


def test_max_det_and_sorted():
    g = torch.Generator().manual_seed(1)
    n = 500
    xy = torch.stack([torch.arange(n) * 30.0, torch.zeros(n)], 1)  # disjoint boxes: nothing suppressed
    pred = torch.cat([xy, torch.full((n, 2), 10.0), torch.rand(n, 3, generator=g) * 0.9 + 0.1], 1)[None]
    (out,) = non_max_suppression(pred, conf_thres=0.001, max_det=300)
    assert out.shape == (300, 6)
    assert torch.all(out[:-1, 4] >= out[1:, 4])
    (out_all,) = non_max_suppression(pred, conf_thres=0.001, max_det=10_000)
    assert out_all.shape == (2 * n, 6)  # multi-label, two classes per box
    torch.testing.assert_close(out, out_all[:300])


def test_prefix_shortcut_is_exact():
    """NMS first runs on the 10*max_det best candidates; the result must equal full NMS both when
    that pass suffices (image 1: spread-out boxes) and when it must fall back (image 0: the best
    2000 candidates are duplicates of one box)."""
    g = torch.Generator().manual_seed(2)
    n, nc = 3000, 3
    dup = torch.tensor([50.0, 50.0, 20.0, 20.0]).expand(2000, 4) + torch.rand(2000, 4, generator=g)
    spread = torch.cat([torch.rand(n - 2000, 2, generator=g) * 1000, torch.full((n - 2000, 2), 20.0)], 1)
    probs = torch.rand(n, 1 + nc, generator=g)
    probs[:2000, 0] = 0.9 + 0.1 * probs[:2000, 0]  # duplicates outrank every spread-out box
    probs[2000:, 0] = 0.5 * probs[2000:, 0]
    img0 = torch.cat([torch.cat([dup, spread]), probs], 1)
    img1 = torch.cat([torch.rand(n, 2, generator=g) * 1000, torch.full((n, 2), 20.0), probs], 1)
    pred = torch.stack([img0, img1])
    out = non_max_suppression(pred, conf_thres=0.001, iou_thres=0.5, max_det=30)
    for img, got in zip(pred.tolist(), out):
        want = torch.tensor(_brute_force(img, 0.001, 0.5, 30, True, False, None))
        assert got.shape == (30, 6)
        torch.testing.assert_close(got, want.float(), atol=1e-4, rtol=1e-5)


def test_empty_and_tuple_input():
    pred = torch.zeros(2, 10, 7)
    out = non_max_suppression((pred, None))
    assert len(out) == 2 and all(o.shape == (0, 6) for o in out)
    with pytest.raises(ValueError):
        non_max_suppression(pred, conf_thres=1.5)
