"""Typed run configuration: dataclasses loaded from YAML, where an unknown key is an error."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key that is not valid (named in the message)."""


def from_mapping(cls: type[T], values: dict[str, Any], source: str = "config") -> T:
    """Build dataclass ``cls`` from a dict; a misspelt key is an error with a suggestion."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in values if k not in fields]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"{source}: unknown key(s) {', '.join(hints)}; valid keys: {', '.join(sorted(fields))}")
    return cls(**values)


def load_yaml_config(cls: type[T], path: str | Path) -> T:
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(values).__name__}")
    return from_mapping(cls, values, str(path))


def save_yaml_config(config: Any, path: str | Path) -> None:
    """Write the resolved config (every field, defaults included) next to a run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(config)
    path.write_text(yaml.safe_dump(_plain(data), sort_keys=False))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
