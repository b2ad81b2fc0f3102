"""A study's record survives tuning.json: read back field by field, the device of each trial included."""

from __future__ import annotations

from yololab.experiments.tuning.apply import chosen_values
from yololab.experiments.tuning.records import EntryKey, StudyResult, TrialRecord
from yololab.experiments.report.tuning_report import tuning_columns
from yololab.jsonfile import write_json


def _study(device: str | None) -> StudyResult:
    trials = (TrialRecord(0, "complete", 0.31, (("lr0", 0.01),), 2, 5.0, device),
              TrialRecord(1, "pruned", 0.12, (("lr0", 0.1),), 1, 2.5, device),
              TrialRecord(2, "failed", None, (("lr0", 0.3),), 0, 0.5, device))
    return StudyResult(EntryKey("yolov5n", "native"), "yolov5n/native", 3, 2, trials, 0, 0.31, (("lr0", 0.01),))


def test_study_round_trips_through_its_plain_form():
    study = _study("cuda:0")
    assert StudyResult.from_plain(study.describe()) == study


def test_tuning_columns_read_the_saved_studies(tmp_path):
    write_json(tmp_path / "tuning" / "tuning.json", {"storage": "sqlite:///x.db",
                                                    "studies": [_study("cuda:1").describe()]})
    cols = tuning_columns(tmp_path)[EntryKey("yolov5n", "native")]
    assert (cols.tune_trials, cols.tune_pruned, cols.tune_failed, cols.tune_device) == (2, 1, 1, "GPU")
    assert cols.tune_seconds == 8.0 and cols.tune_best_val == 0.31 and cols.tuned == "lr0=0.01"
    assert chosen_values(tmp_path) == {EntryKey("yolov5n", "native"): {"lr0": 0.01}}


def test_an_older_tuning_json_without_devices_reads_as_cpu(tmp_path):
    plain = _study(None).describe()
    for t in plain["trials"]:
        del t["device"]
    write_json(tmp_path / "tuning" / "tuning.json", {"storage": "sqlite:///x.db", "studies": [plain]})
    assert tuning_columns(tmp_path)[EntryKey("yolov5n", "native")].tune_device == "CPU"
