"""Exact JSON round trip and content hashing for frozen dataclass trees (worlds, games, tasks).

The decoder is strict on purpose: a task file is user input, so every type error, missing key or unknown
key is reported with the dotted path of the field and the offending value, e.g.
``SpecError: world.objects[3].shape: expected one of ('sphere', ...), got 'blob'``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


class SpecError(ValueError):
    """A malformed or inconsistent spec. The message starts with the field path and names the bad value."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path or '<root>'}: {message}")


def to_jsonable(obj: Any) -> Any:
    """A dataclass tree as plain JSON types (dicts keep field order; tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


def to_json(obj: Any, indent: int | None = None) -> str:
    """Canonical JSON text of a dataclass tree."""
    return json.dumps(to_jsonable(obj), indent=indent, sort_keys=indent is None, separators=None if indent else (",", ":"))


def content_id(obj: Any, length: int = 16) -> str:
    """A stable content hash: SHA-256 of the canonical JSON, independent of process, machine and Python hash seed."""
    canonical = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS_CACHE.get(cls)
    if hints is None:
        hints = _HINTS_CACHE[cls] = get_type_hints(cls)
    return hints


def from_json(cls: type[T], text: str | bytes, path: str = "") -> T:
    """Parse JSON text into ``cls``; malformed JSON is a SpecError too."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(path, f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise SpecError(path, f"not UTF-8 text: byte {err.object[err.start]:#04x} at offset {err.start}") from None
    return _decode(cls, data, path)


def _decode(tp: Any, data: Any, path: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise SpecError(path, f"expected an object for {tp.__name__}, got {_describe(data)}")
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise SpecError(f"{path}.{unknown[0]}" if path else unknown[0], f"unknown key in {tp.__name__}")
        hints = _hints(tp)
        kwargs = {}
        for name, field in fields.items():
            sub = f"{path}.{name}" if path else name
            if name not in data:
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    raise SpecError(sub, f"missing key in {tp.__name__}")
                continue
            kwargs[name] = _decode(hints[name], data[name], sub)
        return tp(**kwargs)
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(data, list):
            raise SpecError(path, f"expected a list, got {_describe(data)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
        if len(args) != len(data):
            raise SpecError(path, f"expected a list of {len(args)} items, got {_describe(data)}")
        return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data)))
    if origin is Literal:
        options = get_args(tp)
        if data not in options or type(data) is not type(options[0]):
            raise SpecError(path, f"expected one of {options}, got {_describe(data)}")
        return data
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            try:
                return _decode(arg, data, path)
            except SpecError as err:
                errors.append(str(err))
        raise SpecError(path, f"no alternative of {tp} accepts {_describe(data)}")
    if tp is type(None):
        if data is not None:
            raise SpecError(path, f"expected null, got {_describe(data)}")
        return None
    if tp is bool:
        if not isinstance(data, bool):
            raise SpecError(path, f"expected true or false, got {_describe(data)}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise SpecError(path, f"expected an integer, got {_describe(data)}")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise SpecError(path, f"expected a number, got {_describe(data)}")
        value = float(data)
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecError(path, f"expected a finite number, got {_describe(data)}")
        return value
    if tp is str:
        if not isinstance(data, str):
            raise SpecError(path, f"expected a string, got {_describe(data)}")
        return data
    raise TypeError(f"{path}: the codec does not handle type {tp!r}")
