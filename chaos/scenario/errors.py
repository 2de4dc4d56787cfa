"""Scenario format errors for people: ``FILE: PATH: problem``, with the valid values listed.

msgspec reports ``Invalid enum value 'x' - at `$.faults[0].link```; this module turns that into
``FILE: faults[0].link: 'x' is not valid (expected one of: callbacks, fraud, ...)`` by walking
the scenario's type (``msgspec.inspect``) along the same path through the decoded YAML. Paths
never show msgspec's ``$`` root; the top level is named ``(top level)``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from msgspec import inspect as mi

_AT = re.compile(r"^(?P<message>.*?)(?: - at (?P<where>`key` in `[^`]*`|`[^`]*`))?$", re.S)
_PART = re.compile(r"\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>\d+)\]|\[(?P<key>'[^']*')\]")


def path_text(path: str) -> str:
    """``$.faults[0].link`` -> ``faults[0].link``; the root -> ``(top level)``."""
    text = path.removeprefix("$").removeprefix(".")
    return text or "(top level)"


def located(
    source: str, root: type, data: Any, error: msgspec.ValidationError, prefix: str = "$"
) -> str:
    """A validation error of ``data`` against ``root`` as ``source: path: message``;
    ``prefix`` is where ``data`` sits in the file (``$.faults[2].set``)."""
    match = _AT.match(str(error))
    assert match is not None
    where, message = match["where"] or "`$`", match["message"]
    is_key = where.startswith("`key` in ")
    raw_path = where.removeprefix("`key` in ").strip("`")
    node = _node_at(mi.type_info(root), data, raw_path)
    message = _explain(message, node, is_key)
    return f"{source}: {path_text(raw_path.replace('$', prefix, 1))}: {message}"


def _explain(message: str, node: mi.Type | None, is_key: bool) -> str:
    bad = re.search(r"'([^']*)'$", message)
    if is_key and isinstance(node, mi.DictType):
        node = node.key_type
    choices = _choices(node)
    if message.startswith(("Invalid enum value", "Invalid value")) and choices and bad:
        what = "key" if is_key else "value"
        return f"{what} {bad.group(1)!r} is not valid (expected one of: {', '.join(choices)})"
    unknown = re.match(r"Object contains unknown field `([^`]*)`", message)
    if unknown:
        fields = _fields(node)
        known = f" (expected one of: {', '.join(fields)})" if fields else ""
        return f"unknown field {unknown.group(1)!r}{known}"
    missing = re.match(r"Object missing required field `([^`]*)`", message)
    if missing:
        return f"missing required field {missing.group(1)!r}"
    text = message.replace("`", "")
    return text[:1].lower() + text[1:]


def _unwrap(node: mi.Type | None) -> mi.Type | None:
    while isinstance(node, mi.Metadata):
        node = node.type
    if isinstance(node, mi.UnionType):
        real = [t for t in node.types if not isinstance(t, mi.NoneType)]
        if len(real) == 1:
            return _unwrap(real[0])
    return node


def _choices(node: mi.Type | None) -> list[str]:
    node = _unwrap(node)
    if isinstance(node, mi.LiteralType):
        return [str(v) for v in node.values]
    if isinstance(node, mi.UnionType):
        tags = [str(t.tag) for t in node.types if isinstance(t, mi.StructType) and t.tag]
        return sorted(tags)
    return []


def _fields(node: mi.Type | None) -> list[str]:
    node = _unwrap(node)
    if isinstance(node, mi.StructType):
        return [f.encode_name for f in node.fields]
    return []


def _node_at(node: mi.Type, data: Any, path: str) -> mi.Type | None:
    """The type at ``path``, choosing tagged-union members by the data's tag."""
    current: mi.Type | None = node
    for part in _PART.finditer(path.removeprefix("$")):
        current = _unwrap(current)
        if isinstance(current, mi.UnionType):
            current = _member(current, data)
        if part["field"] is not None:
            if isinstance(current, mi.UnionType) and part["field"] in _tag_fields(current):
                return current  # the tag itself is wrong: its valid values are the tags
            if not isinstance(current, mi.StructType):
                return None
            field = next((f for f in current.fields if f.encode_name == part["field"]), None)
            if field is None:
                return None
            current = field.type
            data = data.get(part["field"]) if isinstance(data, dict) else None
        elif part["index"] is not None:
            current = _unwrap(current)
            if not isinstance(current, mi.ListType):
                return None
            index = int(part["index"])
            current = current.item_type
            data = data[index] if isinstance(data, list) and index < len(data) else None
        else:
            current = _unwrap(current)
            if not isinstance(current, mi.DictType):
                return None
            current = current.value_type
            key = part["key"].strip("'")
            data = data.get(key) if isinstance(data, dict) else None
    current = _unwrap(current)
    return _member(current, data) if isinstance(current, mi.UnionType) else current


def _tag_fields(union: mi.UnionType) -> set[str]:
    return {t.tag_field for t in union.types if isinstance(t, mi.StructType) and t.tag_field}


def _member(union: mi.UnionType, data: Any) -> mi.Type | None:
    """The member of a tagged union the data names, or the union itself if none matches."""
    if not isinstance(data, dict):
        return union
    for member in union.types:
        if not isinstance(member, mi.StructType) or member.tag_field is None:
            continue
        if data.get(member.tag_field) == member.tag:
            return member
    return union
