"""Upstream's command-line habits: ``--img`` and ``--img-size`` are ``--imgsz`` on every command that
takes an image size, listed in its help; ``train --help`` names the default device."""

from __future__ import annotations

import pytest

from yololab.cli import build_parser

#: the required options of each command, so that only the image size is under test
COMMANDS = {"train": [], "val": [], "info": [], "compare": ["--out", "o"],
            "predict": ["--weights", "w.pt", "--source", "s"], "export": ["--weights", "w.pt"],
            "bench": ["--weights", "w.pt"], "serve": ["--weights", "w.pt"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("flag", ["--imgsz", "--img-size", "--img"])
def test_image_size_aliases(command: str, flag: str) -> None:
    args = build_parser().parse_args([command, *COMMANDS[command], flag, "320"])
    assert args.imgsz == 320


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_lists_the_aliases(command: str, capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    usage = capsys.readouterr().out
    assert "--imgsz IMGSZ, --img-size IMGSZ, --img IMGSZ" in " ".join(usage.split())


def test_train_help_says_the_device_default(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--device DEVICE auto (default: GPU 0 if available, else cpu)" in help_text
