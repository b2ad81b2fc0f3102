"""tune: an equal hyperparameter-tuning budget per entry, run before the seeds (Optuna on SQLite).

A real study (2 entries x 4 trials, the real trainer, tiny synthetic data) checks equal budgets, pruning,
that the scoring split is never read while tuning and that the best trial's values are what the seeded
cells train with; a scripted trainer (val values from lr0, no training) checks successive halving, the
process pool, resume after a kill and a second process joining the same study through its storage URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from fixtures import tiny_spec

from yololab.config import ConfigError
from yololab.experiments.plan.spec import spec_from_mapping
from yololab.train.contract import TrainSummary

SPACE = {"lr0": {"low": 0.001, "high": 0.05, "log": True}, "freeze": {"low": 0, "high": 2, "int": True}}
REPO = Path(__file__).resolve().parents[1]


TINY_DATA = {"test_split": True}  # conftest's tiny_data: 4 train / 3 val / 3 test images


def tune_spec(data, tune: dict, **extra):
    """The tiny spec with a tune: section (4 trials of 2 epochs over SPACE unless ``tune`` says otherwise)."""
    return tiny_spec(data, **{"name": "tune", "bootstrap": 20,
                              "tune": {"trials": 4, "epochs": 2, "space": SPACE, **tune}, **extra})


def run_study(spec, out, executor="local", devices=("cpu",), train_fn=None):
    """``run_tuning`` on the plan of ``spec`` in ``out`` (as compare and tune make it)."""
    from yololab.experiments.plan.comparison_plan import resolve_plan
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.tuning.study import run_tuning

    plan = resolve_plan(spec, out, RunSettings(executor=executor, devices=list(devices)))
    return run_tuning(plan) if train_fn is None else run_tuning(plan, train_fn)


def scripted_train(cfg, on_epoch_end=None):
    """No training: epoch e 'scores' lr0 * (e + 1) on val, so trials differ and a pruner has something to
    rank. Each call is logged in $TUNE_CALLS; $TUNE_KILL_AT=n SIGKILLs this process at the n-th call,
    $TUNE_FAIL_AT=n raises there; $TUNE_PARTNER: wait until another process has logged a call too."""
    calls = os.environ.get("TUNE_CALLS")
    if calls:
        Path(calls).mkdir(parents=True, exist_ok=True)
        n = len(list(Path(calls).iterdir())) + 1
        (Path(calls) / f"{n:03d}_{os.getpid()}").write_text(json.dumps({"lr0": cfg.hyp.lr0, "out": cfg.out}))
        if os.environ.get("TUNE_KILL_AT") == str(n):
            os.kill(os.getpid(), signal.SIGKILL)
        if os.environ.get("TUNE_FAIL_AT") == str(n):
            raise RuntimeError("injected trial failure")
        if os.environ.get("TUNE_PARTNER"):  # two processes: wait until the other one has started a trial
            deadline = time.time() + 30
            while time.time() < deadline and all(p.name.endswith(f"_{os.getpid()}") for p in Path(calls).iterdir()):
                time.sleep(0.2)
    delay = float(os.environ.get("TUNE_DELAY", "0"))
    epochs = 0
    for epoch in range(cfg.epochs):
        time.sleep(delay)
        epochs += 1
        if on_epoch_end is not None and on_epoch_end(epoch, {"map50_95": cfg.hyp.lr0 * (epoch + 1), "map50": 0.0}):
            return TrainSummary(epochs_run=epochs, stopped_by_hook=True)
    return TrainSummary(epochs_run=epochs)


SCRIPTED = scripted_train  # a module-level function: workers import it by reference when unpickling


def test_tune_section_is_strict(tiny_data):
    spec = spec_from_mapping(yaml.safe_load(textwrap.dedent(f"""
        data: {tiny_data}
        tune:
          trials: 20            # per entry, the same for every entry
          epochs: 10            # per trial
          space:
            lr0: {{low: 0.001, high: 0.05, log: true}}
            weight_decay: {{low: 0.0001, high: 0.001, log: true}}
            backbone_lr_mult: {{choices: [0.1, 0.3, 1.0]}}
            freeze: {{low: 0, high: 3, int: true}}
        """)))
    assert spec.tune.trials == 20 and spec.tune.space["freeze"].int and spec.tune.space["lr0"].log
    assert spec.tune.space["backbone_lr_mult"].choices == [0.1, 0.3, 1.0]
    assert spec.tune.sampler == "tpe" and spec.tune.objective == "map50_95"
    with pytest.raises(ConfigError, match="did you mean 'trials'"):
        spec_from_mapping({"data": str(tiny_data), "tune": {"trails": 3, "space": SPACE}})
    with pytest.raises(ConfigError, match="unknown parameter 'lr_0'.*did you mean 'lr0'"):
        spec_from_mapping({"data": str(tiny_data), "tune": {"space": {"lr_0": {"low": 0.1, "high": 1}}}})
    with pytest.raises(ConfigError, match="did you mean 'high'"):
        spec_from_mapping({"data": str(tiny_data), "tune": {"space": {"lr0": {"low": 0.1, "hihg": 1}}}})
    with pytest.raises(ConfigError, match="log range needs low > 0"):
        spec_from_mapping({"data": str(tiny_data), "tune": {"space": {"lr0": {"low": 0, "high": 1, "log": True}}}})
    with pytest.raises(ConfigError, match="every value must be a number"):
        spec_from_mapping({"data": str(tiny_data), "tune": {"space": {"lr0": {"choices": ["fast", 0.1]}}}})
    with pytest.raises(ConfigError, match="freeze: must be >= 0"):
        spec_from_mapping({"data": str(tiny_data), "tune": {"space": {"freeze": {"low": -1, "high": 2, "int": True}}}})
    with pytest.raises(ConfigError, match="space is empty"):
        spec_from_mapping({"data": str(tiny_data), "tune": {"trials": 2}})


def test_real_study_equal_budget_pruned_unseen_test_split_and_best_values_in_cells(tiny_data, tmp_path, one_thread,
                                                                                   monkeypatch):
    import optuna

    import yololab.data.source as source
    from yololab.experiments.plan.layout import CellPaths, cell_dir
    from yololab.experiments.compare import run_compare
    from yololab.experiments.plan.run_settings import RunSettings
    from yololab.experiments.plan.spec import expand_cells

    # aggressive: any trial whose val mAP is still below 0.5 after its first epoch is stopped there
    spec = tune_spec(tiny_data, {"pruner": "threshold", "prune_below": 0.5, "min_resource": 1},
                     backbones=["native", "timm:mobilenetv3_small_050"])
    opened = []
    real_open = source.open_split

    def spy(data, split, *args, **kwargs):
        opened.append(split)
        return real_open(data, split, *args, **kwargs)

    monkeypatch.setattr(source, "open_split", spy)
    monkeypatch.setattr("yololab.train.data.open_split", spy)
    test_dir = tiny_data.parent / "images" / "test"
    hidden = test_dir.with_name("test_hidden")
    test_dir.rename(hidden)  # the scoring split is not even there while tuning
    try:
        result = run_study(spec, tmp_path, "local", ["cpu"])
    finally:
        hidden.rename(test_dir)
    assert "test" not in opened and {"train", "val"} <= set(opened)
    assert [s.key.label for s in result.studies] == ["cspdarknet", "timm:mobilenetv3_small_050"]
    for study in result.studies:  # the same budget for every entry, all of it pruned after one epoch
        assert study.finished == 4 and study.count("failed") == 0
        assert study.count("pruned") == 4 and all(t.epochs_run == 1 for t in study.trials)
        assert study.best_number is not None and set(study.params) == {"lr0", "freeze"}

    loaded = optuna.load_study(study_name=result.studies[0].study_name,
                               storage=f"sqlite:///{tmp_path / 'tuning' / 'study.db'}")  # optuna itself opens it
    assert len(loaded.trials) == 4 and {t.state for t in loaded.trials} == {optuna.trial.TrialState.PRUNED}

    monkeypatch.setattr(source, "open_split", real_open)
    monkeypatch.setattr("yololab.train.data.open_split", real_open)
    compare = run_compare(spec, tmp_path, RunSettings(executor="local", bench=False, report=True, progress=False))
    assert all(r.done for r in compare.rows)
    for cell in expand_cells(spec):  # the seeded cells train with their entry's best trial values
        best = next(s for s in result.studies if s.key.label == cell.label).params
        cfg = yaml.safe_load(CellPaths(cell_dir(tmp_path, cell)).cell_yaml.read_text())["train_config"]
        assert cfg["hyp"]["lr0"] == pytest.approx(best["lr0"]) and cfg["freeze"] == best["freeze"]
        assert cfg["epochs"] == 1  # the comparison's epochs, not the trials'
    row = next(r for r in compare.rows if r.entry.label == "cspdarknet")
    assert row.tuning.tune_trials == 4 and row.tuning.tune_pruned == 4 and row.tuning.tuned.startswith("freeze=")
    assert row.score_split == "test"
    protocol = json.loads((tmp_path / "protocol.json").read_text())
    assert protocol["tune"]["trials"] == 4 and protocol["tune"]["sampler"] == "tpe"
    assert [s["entry"] for s in protocol["tuning"]["studies"]] == ["cspdarknet", "timm:mobilenetv3_small_050"]
    html = (tmp_path / "report.html").read_text()
    assert "Tuning budget" in html and (tmp_path / "plots" / "tuning_budget.png").is_file()
    md = (tmp_path / "results.md").read_text()
    assert "Tuned" in md and "never read while tuning" in md

    # other tuned values for the same folder are refused: they are in the cells' config fingerprint
    from yololab.experiments.phases import check_same_settings
    from yololab.experiments.plan.comparison_plan import resolve_plan
    from yololab.experiments.tuning.apply import tuned_cells
    from yololab.experiments.tuning.trial import with_values

    plan = resolve_plan(spec, tmp_path)
    cells = tuned_cells(expand_cells(spec), result)
    check_same_settings(plan.with_cells(cells))  # the values it ran with: accepted
    with pytest.raises(ConfigError, match="different settings"):
        check_same_settings(plan.with_cells([with_values(c, {"lr0": 0.0123}) for c in cells]))
    other = tune_spec(tiny_data, {"pruner": "threshold", "prune_below": 0.5, "min_resource": 1, "seed": 7},
                      backbones=["native", "timm:mobilenetv3_small_050"])
    with pytest.raises(ConfigError, match="tune.seed"):  # another tuning protocol in the same folder
        run_compare(other, tmp_path, RunSettings(executor="local", bench=False, report=False))


def test_successive_halving_prunes_weak_trials(tiny_data, tmp_path):

    spec = tune_spec(tiny_data, {"trials": 4, "epochs": 3, "pruner": "successive_halving", "reduction_factor": 2,
                                 "startup_trials": 4})
    result = run_study(spec, tmp_path, "local", ["cpu"], SCRIPTED)
    for study in result.studies:
        assert study.finished == 4 and study.count("failed") == 0
        assert study.count("pruned") >= 1  # weak trials stopped before their last epoch
        assert all(t.epochs_run < 3 for t in study.trials if t.state == "pruned")
        best = max((t for t in study.trials if t.state == "complete"), key=lambda t: t.value)
        assert study.best_number == best.number and study.params == dict(best.params)
    assert [s.params for s in result.studies][0] != {}


def test_a_failing_trial_is_recorded_and_not_counted(tiny_data, tmp_path, monkeypatch):
    import optuna


    monkeypatch.setenv("TUNE_CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("TUNE_FAIL_AT", "1")
    spec = tune_spec(tiny_data, {"trials": 2, "epochs": 1, "pruner": "none"}, backbones=["native"])
    study = run_study(spec, tmp_path, "local", ["cpu"], SCRIPTED).studies[0]
    assert (study.count("failed"), study.count("complete")) == (1, 2)  # the study went on to its full budget
    storage = f"sqlite:///{tmp_path / 'tuning' / 'study.db'}"
    trial = optuna.load_study(study_name=study.study_name, storage=storage).trials[0]
    assert trial.state == optuna.trial.TrialState.FAIL and "injected trial failure" in trial.user_attrs["error"]


def test_process_pool_runs_trials_one_per_device(tiny_data, tmp_path):

    spec = tune_spec(tiny_data, {"trials": 2, "epochs": 1, "pruner": "none"}, backbones=["native"])
    result = run_study(spec, tmp_path, "process", ["cpu", "cpu"], SCRIPTED)
    assert result.studies[0].count("complete") == 2
    trials = [json.loads(p.read_text()) for p in tmp_path.glob("tuning/*/trial_*/trial.json")]
    assert len(trials) == 2 and {t["device"] for t in trials} == {"cpu"}


def _tune_in_subprocess(spec_values: dict, out: Path, env: dict) -> subprocess.Popen:
    code = ("import json, sys; from test_tune import run_study, scripted_train; "
            "run_study(json.loads(sys.argv[1]), sys.argv[2], 'local', ['cpu'], scripted_train)")
    path = os.pathsep.join([str(REPO / "src"), str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(spec_values), str(out)],
                            env={**os.environ, **env, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"})


def _values(data, backbones=("native",), **tune):
    return {"name": "tune", "data": str(data), "models": ["yolov5n"], "backbones": list(backbones),
            "seeds": [0], "imgsz": 64, "tune": {"trials": 4, "epochs": 2, "space": SPACE, "pruner": "none", **tune}}


def test_resume_after_kill_keeps_finished_trials_and_reruns_the_killed_one(tiny_data, tmp_path):
    import optuna

    calls = tmp_path / "calls"
    values = _values(tiny_data, trials=3)
    first = _tune_in_subprocess(values, tmp_path / "exp", {"TUNE_CALLS": str(calls), "TUNE_KILL_AT": "2"})
    assert first.wait(timeout=120) == -signal.SIGKILL  # killed during its 2nd trial
    assert len(list(calls.iterdir())) == 2
    second = _tune_in_subprocess(values, tmp_path / "exp", {"TUNE_CALLS": str(calls)})
    assert second.wait(timeout=120) == 0
    assert len(list(calls.iterdir())) == 2 + 2  # finished trial kept; the killed one's place and the last run now
    storage = f"sqlite:///{tmp_path / 'exp' / 'tuning' / 'study.db'}"
    trials = optuna.load_study(study_name="tune:yolov5n/cspdarknet", storage=storage).trials
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 3 and len({t.number for t in finished}) == 3  # exactly the budget, nothing twice
    assert [t.state for t in trials].count(optuna.trial.TrialState.FAIL) == 1
    killed = next(t for t in trials if t.state == optuna.trial.TrialState.FAIL)
    assert killed.number == 1 and "killed" in killed.user_attrs["error"]
    summary = json.loads((tmp_path / "exp" / "tuning" / "tuning.json").read_text())
    assert [(s["complete"], s["failed"]) for s in summary["studies"]] == [(3, 1)]


def test_second_process_joins_the_same_study_through_the_storage_url(tiny_data, tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path / 'common' / 'study.db'}"  # e.g. postgresql://user:pw@host/db across machines
    values = _values(tiny_data, storage=url, trials=6)
    env = {"TUNE_DELAY": "0.2", "TUNE_CALLS": str(tmp_path / "calls"), "TUNE_PARTNER": "1"}
    workers = [_tune_in_subprocess(values, tmp_path / f"machine{i}", env) for i in range(2)]
    assert [w.wait(timeout=180) for w in workers] == [0, 0]
    trials = optuna.load_study(study_name="tune:yolov5n/cspdarknet", storage=url).trials
    counted = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(counted) == 6  # one budget shared by both processes, not 6 each
    assert all(t.user_attrs.get("over_budget") for t in trials if t.state != optuna.trial.TrialState.COMPLETE)
    assert len({t.user_attrs["pid"] for t in counted}) == 2  # both processes ran trials of the study


def test_yololab_tune_cli_prints_the_chosen_values(tiny_data, tmp_path, capsys):
    from yololab.cli import main

    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(_values(tiny_data, trials=2, epochs=1)))
    assert main(["tune", "--config", str(config), "--out", str(tmp_path / "out"), "--executor", "local",
                 "--devices", "cpu", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "yolov5n cspdarknet: 2/2 trials" in text
    assert "lr0=" in text and "study.db" in text


def test_compare_tune_flags_fill_in_the_common_case(tiny_data):
    from yololab.cli import build_parser
    from yololab.experiments.cli import spec_values

    args = build_parser().parse_args(["compare", "--data", str(tiny_data), "--out", "x", "--tune-trials", "3",
                                      "--tune-epochs", "2"])
    spec = spec_from_mapping(spec_values(args))
    assert (spec.tune.trials, spec.tune.epochs) == (3, 2) and set(spec.tune.space) == {"lr0", "weight_decay",
                                                                                        "backbone_lr_mult"}


