"""One generic converter between frozen records and flat mappings (the rows of results.csv / results.json and
a cell's metrics.json), over ``dataclasses.fields`` and the fields' type hints.

A record's fields go out in their order under their column names, and a nested record's fields in its
place; how a field differs from that is said once, on the field (``dataclasses.field(metadata=...)``):

- ``column``: its column name where it is not the field's name ('label' -> 'backbone');
- ``suffix``: a record whose fields say it is written under its parent's column plus the suffix
  (:class:`~yololab.experiments.results.records.Estimate`: 'map50', 'map50_std', 'map50_ci95');
- ``inline=False``: a nested record kept as one nested mapping (a cell's ``analysis``);
- ``flat=False``: left out (a mapping by latency backend, whose columns the latency table names).

A None nested record writes nothing; reading back, it is None when its columns are absent. Tuples are
written as lists, enums as their strings, mappings of records as mappings of flat mappings.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

TypeVars = Mapping[Any, Any]


def to_flat(record: Any, columns: Mapping[str, str] | None = None, parent: str = "",
            typevars: TypeVars | None = None) -> dict[str, Any]:
    """``record``'s fields as one flat mapping; ``columns``: column names of its own fields for this call
    (e.g. a latency backend's), ``parent``: the column a suffixed record is written under."""
    out: dict[str, Any] = {}
    hints = _hints(type(record))
    for f in dataclasses.fields(record):
        if f.metadata.get("flat", True) is False:
            continue
        name = (columns or {}).get(f.name) or _column(f, parent)
        value = getattr(record, f.name)
        hint = _resolve(hints[f.name], typevars or {})
        kind, args = _record_in(hint)
        if kind is not None and f.metadata.get("inline", True):
            if value is not None:
                out.update(to_flat(value, parent=name, typevars=args))
        else:
            out[name] = plain(value)
    return out


def plain(value: Any) -> Any:
    """What JSON holds: records as flat mappings, tuples as lists, enums as their strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_flat(value)
    if isinstance(value, enum.Enum):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def from_flat(cls: type, flat: Mapping[str, Any], columns: Mapping[str, str] | None = None, parent: str = "",
              typevars: TypeVars | None = None, **given: Any) -> Any:
    """The record ``cls`` read back from a flat mapping (the inverse of :func:`to_flat`): each field from its
    column by its type hint; a column that is absent (or None for a field that may not be None) leaves the
    field's default; ``given``: fields set directly."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name in given or f.metadata.get("flat", True) is False:
            continue
        name = (columns or {}).get(f.name) or _column(f, parent)
        hint = _resolve(hints[f.name], typevars or {})
        kind, args = _record_in(hint)
        if kind is not None and f.metadata.get("inline", True):
            if _present(kind, flat, name):
                values[f.name] = from_flat(kind, flat, parent=name, typevars=args)
            elif _optional(hint):
                values[f.name] = None
        elif flat.get(name) is not None:
            values[f.name] = read(flat[name], hint)
        elif name in flat and _optional(hint):
            values[f.name] = None
    return cls(**values, **given)


def read(value: Any, hint: Any) -> Any:
    """A plain (JSON) value as the type ``hint`` says: records, tuples, mappings of records, enums."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        return read(value, arms[0]) if len(arms) == 1 else value
    kind, typevars = _record_in(hint)
    if kind is not None:
        return from_flat(kind, value, typevars=typevars) if isinstance(value, Mapping) else None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return None
        if args and args[-1] is not Ellipsis and len(args) != len(value):
            return None  # a pair that is not one
        items = args[:1] if args and args[-1] is Ellipsis else args
        return tuple(read(v, items[0] if len(items) == 1 else items[i]) if items else v for i, v in enumerate(value))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        item = args[1] if len(args) == 2 else Any
        return {str(k): read(v, item) for k, v in value.items()
                if _record_in(item)[0] is None or isinstance(v, Mapping)}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value


def columns_of(cls: type, parent: str = "") -> tuple[str, ...]:
    """The column names ``cls``'s own fields are written under (nested records not opened)."""
    return tuple(_column(f, parent) for f in dataclasses.fields(cls) if f.metadata.get("flat", True) is not False)


def _column(f: dataclasses.Field, parent: str) -> str:
    if "suffix" in f.metadata:
        return parent + f.metadata["suffix"]
    return f.metadata.get("column", f.name)


def _present(kind: type, flat: Mapping[str, Any], parent: str) -> bool:
    """Whether a nested record was written: a suffixed one when its main column has a value, another when
    any of its columns is there."""
    first = dataclasses.fields(kind)[0]
    if "suffix" in first.metadata:
        return flat.get(_column(first, parent)) is not None
    return any(c in flat for c in columns_of(kind, parent))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _resolve(hint: Any, typevars: TypeVars) -> Any:
    """``hint`` with the record's type variables (``Accuracy[Estimate]``'s T) put in."""
    if isinstance(hint, typing.TypeVar):
        return typevars.get(hint, Any)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and any(isinstance(a, typing.TypeVar) for a in args):
        return typing.Union[tuple(_resolve(a, typevars) for a in args)]
    return hint


def _record_in(hint: Any) -> tuple[type | None, dict]:
    """The record class ``hint`` names (alone or with None) and its type variables' values, else (None, {})."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        return _record_in(arms[0]) if len(arms) == 1 else (None, {})
    if dataclasses.is_dataclass(origin):
        return origin, dict(zip(getattr(origin, "__parameters__", ()), args))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint, {}
    return None, {}


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint) or hint is Any
