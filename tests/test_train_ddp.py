"""DDP on CPU (gloo).

* yololab's own DDP helpers in two spawned processes, on the trainer's data path: the ranks' shards of the
  training set are disjoint and cover it (every epoch, in a new order), each rank's gradient after
  backward is the mean of the two ranks' local gradients, and after the optimizer steps both ranks hold
  identical weights (which did change).
* ``torchrun --nproc_per_node 2 -m yololab train ... --device cpu`` trains one epoch, rank 0 writes the
  checkpoint and results, and ``yololab val`` loads what it wrote.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from yololab.cli import main
from yololab.data import make_synthetic_dataset

WORLD = 2
EPOCHS = 2
RANK_BATCH = 2
NUM_TRAIN = 8  # divisible by WORLD: DistributedSampler pads an odd set by repeating images


def _needs_gloo() -> None:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_worker(rank: int, port: int, data_yaml: str, out_dir: str) -> None:
    """One rank, as torchrun would start it: the trainer's DDP helpers, sampler, loader and loss."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import yololab
    from torch.utils.data import DataLoader

    from yololab.data import DetectionDataset, collate_fn, load_split
    from yololab.train import Hyperparameters, YOLOLoss, build_optimizer
    from yololab.train import distributed as ddp

    info, device = ddp.init_distributed("cpu")
    assert (info.rank, info.world_size, info.enabled) == (rank, WORLD, True)
    try:
        torch.manual_seed(0)  # the same initial weights on both ranks, as the trainer builds them
        model = yololab.build_model("yolov5n", num_classes=2).to(device).train()
        initial = {k: v.detach().clone() for k, v in model.named_parameters()}
        loss_fn = YOLOLoss.from_model(model, Hyperparameters())
        records, _ = load_split(data_yaml, "train", log=False)
        dataset = DetectionDataset(records, 64, augment=False, batch_size=RANK_BATCH, stride=model.stride)
        sampler = ddp.train_sampler(dataset, info, seed=0)
        loader = DataLoader(dataset, batch_size=RANK_BATCH, sampler=sampler, collate_fn=collate_fn)
        ddp_model = ddp.wrap_model(model, device, info)
        optimizer = build_optimizer(model, lr0=0.01, momentum=0.937, weight_decay=5e-4)
        seen: list[list[str]] = []
        local_grad = synced_grad = None
        for epoch in range(EPOCHS):
            sampler.set_epoch(epoch)
            seen.append([])
            for imgs, targets, paths, _ in loader:
                imgs = imgs.float() / 255
                seen[-1] += list(paths)
                if local_grad is None:  # this rank's own gradient on its batch, without DDP
                    plain = copy.deepcopy(model)
                    YOLOLoss.from_model(plain, Hyperparameters())(plain(imgs), targets)[0].backward()
                    local_grad = {k: p.grad.clone() for k, p in plain.named_parameters()}
                optimizer.zero_grad(set_to_none=True)
                loss, _ = loss_fn(ddp_model(imgs), targets)
                loss.backward()
                if synced_grad is None:
                    synced_grad = {k: p.grad.clone() for k, p in model.named_parameters()}
                optimizer.step()
        torch.save({"seen": seen, "local_grad": local_grad, "synced_grad": synced_grad, "initial": initial,
                    "final": {k: v.detach().clone() for k, v in model.named_parameters()}},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        ddp.cleanup(info)


def test_ddp_ranks_see_disjoint_shards_and_keep_identical_weights(tmp_path: Path) -> None:
    _needs_gloo()
    data = make_synthetic_dataset(tmp_path / "syn", num_train=NUM_TRAIN, num_val=2, img_size=64,
                                  classes=("square", "circle"), max_objects=2)
    mp.spawn(_rank_worker, args=(_free_port(), str(data), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    everything = sorted(str(p) for p in (data.parent / "images" / "train").glob("*.jpg"))
    assert len(everything) == NUM_TRAIN

    # data: per epoch the shards are disjoint, equal in size and together the whole training set
    for epoch in range(EPOCHS):
        shards = [r["seen"][epoch] for r in ranks]
        assert all(len(s) == NUM_TRAIN // WORLD == len(set(s)) for s in shards)
        assert not set(shards[0]) & set(shards[1])
        assert sorted(shards[0] + shards[1]) == everything
    assert ranks[0]["seen"][0] != ranks[0]["seen"][1]  # set_epoch reshuffles

    # gradients: each rank's local gradient differs (different images); after DDP's backward both ranks
    # hold their mean
    local = [r["local_grad"] for r in ranks]
    names = list(local[0])
    assert any(not torch.allclose(local[0][k], local[1][k]) for k in names)
    for k in names:
        mean = (local[0][k] + local[1][k]) / 2
        for r in ranks:
            assert torch.allclose(r["synced_grad"][k], mean, rtol=1e-4, atol=1e-7), k
        assert torch.equal(ranks[0]["synced_grad"][k], ranks[1]["synced_grad"][k]), k

    # weights: identical on both ranks after EPOCHS * NUM_TRAIN / (WORLD * RANK_BATCH) optimizer steps,
    # and not the initial ones
    for k in names:
        assert torch.equal(ranks[0]["initial"][k], ranks[1]["initial"][k]), k
        assert torch.equal(ranks[0]["final"][k], ranks[1]["final"][k]), k
    assert sum(not torch.equal(ranks[0]["initial"][k], ranks[0]["final"][k]) for k in names) > len(names) // 2


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path: Path, capsys) -> None:
    _needs_gloo()
    data = make_synthetic_dataset(tmp_path / "syn", num_train=4, num_val=2, img_size=64,
                                  classes=("square", "circle"), max_objects=2)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "yololab", "train", "--model", "yolov5n", "--data", str(data), "--epochs", "1", "--imgsz", "64",
           "--batch", "4", "--device", "cpu", "--workers", "0", "--out", str(out), "--no-progress", "--no-plots",
           "--json", str(out / "summary.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0/2" in proc.stderr and "backend gloo" in proc.stderr and "2 process(es)" in proc.stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_run"] == 1
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["train/box_loss"]) > 0
    ckpt = torch.load(out / "weights" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 0 and ckpt["train_config"]["batch"] == 4
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])  # the bare model, not the DDP wrapper

    capsys.readouterr()
    code = main(["val", "--weights", str(out / "weights" / "last.pt"), "--data", str(data), "--imgsz", "64",
                 "--batch", "2", "--workers", "0", "--json", str(tmp_path / "val.json")])
    assert code == 0, capsys.readouterr().err
    assert "map50_95" in json.loads((tmp_path / "val.json").read_text())
