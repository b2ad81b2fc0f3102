"""Ray cells without a shared filesystem: each runs in a node-local folder and sends its files back.

Node side (``run_on_node``): the cell runs in a fresh folder under the node's work root --
``--ray-work-dir`` when given, else the node's temp folder --
seeded with the files the driver shipped (an interrupted cell's last.pt, so it resumes wherever it
lands, and the scoring ground truth, so its consistency check still holds); the folder is packed
into bytes, returned and deleted. The data set is read at the driver's path: every node needs it
there (a mount or a copy at the same absolute path).

Driver side (``NodeLocalCell``): holds the driver's cell lock from submission to write-back and
writes the returned files into ``out_dir`` -- the scoring ground truth first, metrics.json (the
done marker) last. A task that dies returns nothing: the cell restarts from what the driver has
(the last.pt of an earlier attempt that came back, else from scratch).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from yololab.experiments.run.cell_transfer import (Files, TransferTooLarge, pack_folder, unpack_folder, write_back,
                                               write_scoring_back)
from yololab.experiments.plan.layout import CellPaths
from yololab.experiments.plan.comparison_plan import ResolvedCell
from yololab.experiments.run.run_cell import run_cell
from yololab.experiments.plan.trainers import TrainFn
from yololab.experiments.run.cell_lock import cell_lock
from yololab.experiments.plan.spec import ExperimentSpec
from yololab.experiments.results.status import CellOutcome, CellStatus

NodeResult = tuple[CellOutcome, Files | None, Files | None]  # outcome, cell files, scoring files


def node_work_root(work_dir: str | None = None) -> Path:
    """Where this node runs cells: ``work_dir`` (``--ray-work-dir``, a path that exists or can be made on
    every node) or the node's temp folder."""
    return Path(work_dir) if work_dir else Path(tempfile.gettempdir())


def run_on_node(spec: ExperimentSpec, cell: ResolvedCell, cell_files: Files, scoring_files: Files,
                train_fn: TrainFn | str | None, device: str, work_dir: str | None = None) -> NodeResult:
    """Run ``cell`` in a temporary folder on this node; return its outcome and files (None: nothing to keep)."""
    started = time.perf_counter()
    if not Path(spec.data).is_file():
        return _failed(cell, f"data YAML {spec.data} not found on this node: every Ray node needs the data at "
                             f"the driver's path", started), None, None
    root = node_work_root(work_dir)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"yololab-{cell.cell_id}-", dir=root) as tmp:
        here = cell.moved_to(tmp)
        unpack_folder(cell_files, here.paths.root)
        unpack_folder(scoring_files, Path(tmp) / "scoring")
        outcome = run_cell(spec, here, train_fn, device, progress=False)
        try:
            return outcome, pack_folder(here.paths.root), pack_folder(Path(tmp) / "scoring")
        except TransferTooLarge as err:
            return _failed(cell, str(err), started), None, None


def _failed(cell: ResolvedCell, message: str, started: float) -> CellOutcome:
    return CellOutcome.failed(cell.cell_id, message, time.perf_counter() - started)


@dataclass
class NodeLocalCell:
    """The driver's half of one node-local cell: its lock, the files shipped, the write-back."""

    cell: ResolvedCell
    out_dir: Path
    sent: frozenset[str] = frozenset()  # names only: the bytes live in Ray's object store once submitted
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def paths(self) -> CellPaths:
        return self.cell.paths

    def prepare(self) -> tuple[Files, Files] | CellOutcome:
        """Lock the driver's cell folder and pack what the node needs (its cell files, the scoring files);
        a failed outcome if that is impossible."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        owner = self._stack.enter_context(cell_lock(self.paths))
        if owner is not None:
            self.release()
            return _failed(self.cell, f"cell {self.cell.cell_id} is being run by another process (pid {owner}); "
                                      f"not started twice", time.perf_counter())
        try:
            files, scoring = pack_folder(self.paths.root), pack_folder(self.out_dir / "scoring")
        except TransferTooLarge as err:
            self.release()
            return _failed(self.cell, str(err), time.perf_counter())
        self.sent = frozenset(files)
        return files, scoring

    def finish(self, result: NodeResult) -> CellOutcome:
        """Write what the node returned into the driver's folder; release the lock; the cell's outcome."""
        outcome, files, scoring = result
        try:
            if files is not None:
                write_scoring_back(self.out_dir / "scoring", scoring or {})
                write_back(self.paths.root, files, self.sent)
        except Exception as err:  # noqa: BLE001 - a cell that cannot be written back is a failed cell
            outcome = dataclasses.replace(outcome, status=CellStatus.FAILED,
                                          error=f"writing back: {type(err).__name__}: {err}")
        finally:
            self.release()
        return outcome

    def release(self) -> None:
        self._stack.close()
