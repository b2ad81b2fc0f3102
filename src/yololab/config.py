"""Typed configuration: dataclasses loaded from YAML, flags or mappings by one strict loader.

An unknown key is an error that names the closest valid key; a value of the wrong type is an error
that names the expected type; nested dataclasses are checked the same way. The CLI, YAML files and
the experiment spec all go through :func:`from_mapping`, so their errors read alike. The only lenient
reader is for upstream hyp files (``train.cli``), which mix keys yololab does not use.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from yololab.atomic import atomic_write_text
from yololab.errors import ConfigError

T = TypeVar("T")


def from_mapping(cls: type[T], values: Mapping[str, Any], source: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, strictly: a misspelt key is an error naming the closest
    valid one, a value of the wrong type an error naming the expected type; nested dataclass fields
    (e.g. ``hyp``, ``augment``, ``backbones``) are built from nested mappings the same way."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {_describe(values)}")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(_suggest(k, fields) for k in unknown)}; "
                          f"valid keys: {', '.join(sorted(fields))}")
    return cls(**{key: coerce(value, hints[key], f"{source}: {key}") for key, value in values.items()})


def coerce(value: Any, expected: Any, where: str) -> Any:
    """``value`` checked against the type annotation ``expected`` (ints are accepted as floats,
    mappings become dataclasses); a mismatch raises :class:`ConfigError` naming the expected type."""
    if expected is Any:
        return value
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in args:
            try:
                return coerce(value, arm, where)
            except ConfigError as err:
                errors.append(err)
        nested = [e for e in errors if not str(e).startswith(f"{where}: expected")]
        if nested:  # the value had the right shape for an arm (e.g. a mapping): its own error says more
            raise nested[0]
        raise ConfigError(f"{where}: expected {type_name(expected)}, got {_describe(value)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (list, tuple) or expected in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected {type_name(expected)}, got {_describe(value)}")
        item = args[0] if args else Any
        return [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or expected is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
        return dict(value)
    if dataclasses.is_dataclass(expected):
        return from_mapping(expected, value, where)
    if expected is type(None):
        if value is None:
            return None
    elif expected is bool:
        if isinstance(value, bool):
            return value
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif expected is str:
        if isinstance(value, (str, Path)):
            return str(value)
    elif isinstance(expected, type) and isinstance(value, expected):
        return value
    raise ConfigError(f"{where}: expected {type_name(expected)}, got {_describe(value)}")


def type_name(tp: Any) -> str:
    """'int', 'float', 'bool or str', 'list of int', ... for error messages."""
    if tp is type(None):
        return "null"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {type_name(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"a mapping of {tp.__name__} keys"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (dict, list)) else type(value).__name__


def _suggest(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), sorted(valid), n=1)
    return f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


#: seeds every generator yololab seeds (torch, NumPy, Python) and every record it keeps (int64) holds
SEED_RANGE = (0, 2**63 - 1)


def check_seed(seed: Any, where: str) -> int:
    """``seed`` if it is a non-negative 64-bit integer; ConfigError naming it otherwise."""
    low, high = SEED_RANGE
    if isinstance(seed, bool) or not isinstance(seed, int) or not low <= seed <= high:
        raise ConfigError(f"{where}: seed {seed!r} is not an integer from {low} to {high}")
    return seed


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's several-line report as one clause: what is wrong and where (line, column)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or " ".join(str(err).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def read_yaml_mapping(path: str | Path, what: str = "") -> dict[str, Any]:
    """A YAML file that must hold a mapping (empty: ``{}``); one sentence naming the file otherwise."""
    path = Path(path)
    label = f"{what} {path}".strip()
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{label} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{label} is a folder, not a YAML file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {label}: {getattr(err, 'strerror', None) or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{label} is not valid YAML: {yaml_problem(err)}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{label}: expected a mapping of keys to values, got {type(values).__name__}")
    return values


def load_yaml_config(cls: type[T], path: str | Path) -> T:
    return from_mapping(cls, read_yaml_mapping(path), str(path))


def save_yaml_config(config: Any, path: str | Path, root: str | Path | None = None) -> None:
    """Write the resolved config (every field, defaults included) next to a run (inside ``root``)."""
    data = dataclasses.asdict(config)
    atomic_write_text(path, yaml.safe_dump(_plain(data), sort_keys=False), root)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
