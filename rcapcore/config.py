"""The typed config builder: a dataclass from a YAML/JSON mapping, names and types checked, one-line
``BadInput`` naming the field. Scenarios (``loadgen.scenarios``) and target files (``analysis.targets``)
both build with it.

A dataclass with a ``from_number(value, where)`` classmethod accepts a bare number in its place
(``Dist``: ``5`` means ``{kind: fixed, value: 5}``); one with an ``ALIASES`` mapping (old name → field)
accepts the old names; a ``BadInput("<field>: …")`` raised by the class itself is reported at that field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

from rcapcore.errors import BadInput
from rcapcore.validate import number, short


def build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking names and types (one-line ``BadInput``)."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping for {cls.__name__}, got {short(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    aliases = getattr(cls, "ALIASES", {})  # old names users may still write
    for old, new in aliases.items():
        if old in data:
            if new in data:
                raise BadInput(f"{where}: {old} and {new} name the same field; keep {new}")
            data = {(new if k == old else k): v for k, v in data.items()}
    unknown = set(data) - names
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                       f"allowed: {', '.join(sorted(names))}")
    values = {k: coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except BadInput as exc:  # a class's own check, "<field>: …": name the field where it was written
        field_name = str(exc).split(":", 1)[0]
        if field_name in names:
            raise BadInput(f"{where}.{exc}") from None
        raise


def coerce(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked and converted to type ``tp`` (one-line ``BadInput`` naming ``where``)."""
    if tp is Any:  # checked after building (e.g. nuxeo_version)
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(inner[0], value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise BadInput(f"{where}: expected true/false, got {short(value)}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadInput(f"{where}: expected an integer, got {short(value)}")
        return number(value, where, integer=True)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(f"{where}: expected a number, got {short(value)}")
        return number(value, where)
    if tp is str:
        if not isinstance(value, str):
            raise BadInput(f"{where}: expected a string, got {short(value)}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise BadInput(f"{where}: expected a mapping, got {short(value)}")
        return {coerce(args[0], k, where): coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise BadInput(f"{where}: expected a list, got {short(value)}")
        return tuple(coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if hasattr(tp, "from_number") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return tp.from_number(value, where)  # a scalar shorthand (a bare number for a distribution)
        return build(tp, value, where)
    raise BadInput(f"{where}: unsupported value {short(value)}")
