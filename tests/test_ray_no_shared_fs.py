"""Ray cells without a shared filesystem: a real two-node ``ray.cluster_utils.Cluster`` on this machine.

Cells run under a work root of their own (``--ray-work-dir``, not the driver's folder), and the head
has no CPUs, so every cell runs on the worker node. One machine cannot hide the driver's folder from
the worker, so the test checks what a node-local run leaves as evidence instead: the cell's recorded
output folder lies under the worker's work root, the driver's cell lock names the driver's pid (a
cell run in the driver's folder would have locked it from the worker), and the work root is empty
afterwards. A second run proves that an interrupted cell's last.pt travels to the node, and that a file
the node removed (a stale error.json) is removed from the driver's folder too.
"""

from __future__ import annotations

import os

import pytest
import yaml
from conftest import require_module
from fixtures import tiny_spec

from yololab.experiments.pool import Placement
from yololab.experiments.pool.shipping import TransferTooLarge, pack_folder
from yololab.experiments.plan.layout import CellPaths, cell_dir, scoring_gt_path
from yololab.jsonfile import read_json_if_present
from yololab.experiments.compare import run_compare
from yololab.experiments.plan.run_settings import RunSettings
from yololab.experiments.plan.comparison_plan import resolve_plan
from yololab.experiments.run.cells import run_cell_task
from yololab.experiments.plan.spec import expand_cells
from yololab.experiments.run import dryrun

DRY_RUN = dryrun.train


TINY_DATA = {"seed": 3}  # conftest's tiny_data


def nofs_spec(data):
    return tiny_spec(data, name="nofs", backbones=["native", "timm:nope"])


@pytest.fixture
def cluster(tmp_path):
    ray = require_module("ray", "the optional Ray executor")
    from ray.cluster_utils import Cluster

    roots = {"worker": tmp_path / "worker-node"}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # cells can only land on the worker
    worker = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address)
    try:
        yield roots, worker.node_id
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_cells_run_node_local_and_come_back(tiny_data, tmp_path, cluster):
    roots, worker_id = cluster
    out = tmp_path / "driver-out"
    spec = nofs_spec(tiny_data)
    result = run_compare(spec, out, RunSettings(executor="ray", devices="cpu,cpu", train_fn=DRY_RUN, bench=False,
                                                report=False, ray_work_dir=str(roots["worker"])))

    assert [r.status for r in result.rows] == ["done", "failed"]
    assert {o.node for o in result.outcomes} == {worker_id}
    done, failed = (CellPaths(cell_dir(out, c)) for c in expand_cells(spec))
    metrics = read_json_if_present(done.metrics)
    for path in (done.cell_yaml, done.train_json, done.results_csv, done.best, done.last, done.detections("val"),
                 done.analysis / "confusion_matrix.csv", done.analysis / "pr_curve.json",
                 scoring_gt_path(out, "val")):
        assert path.is_file(), path
    assert metrics["detections_file"] == "detections_val.json" and metrics["analysis"] is not None
    assert "nope" in read_json_if_present(failed.error)["error"]
    for paths in (done, failed):  # the cell ran and wrote under the worker's own root, not in `out`
        ran_in = yaml.safe_load(paths.cell_yaml.read_text())["train_config"]["out"]
        assert ran_in.startswith(str(roots["worker"]) + os.sep)
        assert (paths.root / ".lock").read_text() == str(os.getpid())
    assert read_json_if_present(done.train_json)["pid"] != os.getpid()
    assert not any(roots["worker"].iterdir())  # the node's folders are deleted once their files are back

    # interrupted after training: only last.pt (holding every epoch) is left in the driver's folder
    import torch

    ckpt = torch.load(done.last, map_location="cpu", weights_only=False)
    torch.save({**ckpt, "epoch": 0}, done.last)
    for path in (done.metrics, done.train_json, done.detections("val"), done.best):
        path.unlink()
    done.error.write_text('{"error": "an earlier attempt"}')  # removed on the node by the success: here too
    again = run_compare(spec, out, RunSettings(executor="ray", devices="cpu,cpu", train_fn=DRY_RUN, bench=False,
                                               report=False))
    assert [r.status for r in again.rows] == ["done", "failed"]
    assert read_json_if_present(done.train_json)["recovered_from_last"] is True  # the node evaluated the shipped last.pt
    assert read_json_if_present(done.metrics)["gt_sha256"] == metrics["gt_sha256"]
    assert not done.error.exists()


def test_node_without_the_data_fails_the_cell_clearly(tmp_path):
    spec = nofs_spec(tmp_path / "elsewhere" / "data.yaml")
    cell = resolve_plan(spec, tmp_path / "out").cells[0]
    outcome = run_cell_task(Placement("cpu", root=tmp_path / "node"), spec, cell, DRY_RUN, progress=False)
    assert outcome.status == "failed" and "driver's path" in outcome.error
    assert not (tmp_path / "node").exists()  # nothing ran there


def test_folder_over_the_transfer_limit_is_a_clear_error(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "last.pt").write_bytes(b"x" * 2048)
    (tmp_path / ".lock").write_text("1")
    assert pack_folder(tmp_path) == {"weights/last.pt": b"x" * 2048}
    with pytest.raises(TransferTooLarge, match="shared-fs"):
        pack_folder(tmp_path, limit=1024)
