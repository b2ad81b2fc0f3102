"""The suite cannot skip under CI: with ``CI=true`` a missing ../shared file (or chromium) fails the test
that needs it, instead of skipping it; elsewhere it is skipped with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SHARED, missing, require_shared


def test_missing_shared_file_skips_outside_ci(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nothing.pt not found at"):
        require_shared(tmp_path / "nothing.pt", "nothing.pt")


@pytest.mark.parametrize("value", ["true", "True", "1"])
def test_missing_shared_file_fails_under_ci(monkeypatch, tmp_path: Path, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"CI=true and nothing.pt not found at .*nothing.pt"):
        require_shared(tmp_path / "nothing.pt", "nothing.pt")


def test_ci_false_still_skips(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_shared(tmp_path / "nothing.pt", "nothing.pt")


def test_present_file_is_returned_under_ci(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    present = tmp_path / "here.pt"
    present.write_bytes(b"x")
    assert require_shared(present, "here.pt") == present


def test_missing_tool_fails_under_ci(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium"):
        missing("chromium is not installed")


def test_shared_is_beside_the_checkout() -> None:
    # ../shared relative to the repository root (the directory holding pyproject.toml and tests/)
    repo = Path(__file__).resolve().parents[1]
    assert (repo / "pyproject.toml").is_file() and SHARED == repo.parent / "shared"


def test_no_test_builds_its_own_path_to_shared() -> None:
    """Only conftest.py names ../shared; every other test goes through its fixtures (and so fails under CI)."""
    offenders = []
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if "/shared/" in code or re.search(r"""/\s*["']shared["']|["']shared["']\s*/""", code):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert not offenders, "tests that build their own path to ../shared:\n" + "\n".join(offenders)
