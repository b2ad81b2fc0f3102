"""``--device``: one reader of the text (yololab.device.parse_device) and one default ('auto') for every
command and for the Predictor; CUDA is hidden where a test needs the CPU-only answer."""

from __future__ import annotations

import inspect

import pytest
import torch

from yololab.device import DEFAULT_DEVICE, DeviceChoice, parse_device, select_device


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("text, choice", [
    ("auto", DeviceChoice("auto", auto=True)),
    (" AUTO ", DeviceChoice(" AUTO ", auto=True)),
    (None, DeviceChoice(DEFAULT_DEVICE, auto=True)),
    ("cpu", DeviceChoice("cpu")),
    ("", DeviceChoice("")),
    ("0", DeviceChoice("0", gpus=(0,))),
    ("cuda", DeviceChoice("cuda", gpus=(0,))),
    ("cuda:1", DeviceChoice("cuda:1", gpus=(1,))),
    ("0,1", DeviceChoice("0,1", gpus=(0, 1))),
])
def test_parse_device_reads_every_form(text, choice):
    assert parse_device(text) == choice
    assert choice.cpu == (not choice.auto and not choice.gpus)


@pytest.mark.parametrize("text", ["gpu", "0,x", ",", "-1", "cpu,cpu"])
def test_a_malformed_device_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=f"--device {text!r}: expected 'auto', 'cpu'"):
        parse_device(text)


def test_auto_without_cuda_is_the_cpu_and_a_gpu_is_refused(no_cuda):
    assert select_device() == select_device("auto") == select_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="asks for CUDA but no CUDA device is available"):
        select_device("0")


def _device_default(argv: list[str]) -> str:
    from yololab.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    command = sub.choices[argv[0]]
    return next(a for a in command._actions if a.dest == "device").default


@pytest.mark.parametrize("command", ["val", "predict", "bench", "serve"])
def test_every_command_defaults_to_auto(command):
    assert _device_default([command]) == DEFAULT_DEVICE == "auto"


def test_library_entry_points_default_to_auto():
    from yololab.deploy.bench import run_bench
    from yololab.deploy.predict import predict
    from yololab.deploy.runtime.pipeline import Predictor
    from yololab.deploy.serving.serve import ServeConfig
    from yololab.train.config import TrainConfig

    for fn in (Predictor.__init__, predict, run_bench):
        assert inspect.signature(fn).parameters["device"].default == DEFAULT_DEVICE, fn
    assert TrainConfig().device == DEFAULT_DEVICE
    assert inspect.signature(ServeConfig).parameters["device"].default == DEFAULT_DEVICE
