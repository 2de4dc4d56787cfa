"""The scenario format reference, generated from the msgspec structs that parse scenario files
and from their docstrings: ``saga scenario reference`` prints it, ``docs/scenario-format.md``
holds it, and a test fails when the two disagree.

A field's description is its attribute docstring (the string literal under it in the class
body); types, constraints and defaults come from ``msgspec.inspect``, so the page cannot say
anything the parser does not do.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any

import msgspec
from msgspec import inspect as mi

from chaos.scenario.format import Scenario

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scenario-format.md"

HEADER = """# Scenario format reference

Generated from the structs in `chaos/scenario/format.py` and the simulators' knobs by
`saga scenario reference > docs/scenario-format.md`; do not edit by hand
(`tests/unit/test_format_reference.py` fails when this page is stale).

A scenario is one YAML file in `scenarios/` whose `name` matches the file name. Every mapping is
strict: an unknown key is an error naming the file and its YAML path. How scenarios run, and an
annotated example: [harness.md](harness.md).
"""


def field_docs(cls: type) -> dict[str, str]:
    """``field -> docstring`` from the class bodies of ``cls`` and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ == "builtins" or not issubclass(klass, msgspec.Struct):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        for node, after in zip(body.body, [*body.body[1:], None], strict=True):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = markdown(after.value.value)
    return docs


def markdown(docstring: str) -> str:
    """A docstring as one Markdown line (reST double backquotes become single)."""
    return " ".join(docstring.split()).replace("``", "`")


def _constraints(t: Any) -> str:
    bounds = []
    for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        value = getattr(t, attr, None)
        if value is not None:
            bounds.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    pattern = getattr(t, "pattern", None)
    if pattern:
        bounds.append(f"matching `{pattern}`")
    return f" ({', '.join(bounds)})" if bounds else ""


def type_name(t: mi.Type, structs: list[mi.StructType]) -> str:
    """A type as the reader writes it in YAML; structs are linked and queued in ``structs``."""
    if isinstance(t, mi.Metadata):
        return type_name(t.type, structs)
    if isinstance(t, mi.IntType):
        return "integer" + _constraints(t)
    if isinstance(t, mi.FloatType):
        return "number" + _constraints(t)
    if isinstance(t, mi.StrType):
        return "string" + _constraints(t)
    if isinstance(t, mi.BoolType):
        return "boolean"
    if isinstance(t, mi.NoneType):
        return "null"
    if isinstance(t, mi.AnyType):
        return "any"
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(f"`{v}`" for v in t.values)
    if isinstance(t, mi.ListType):
        return f"list of {type_name(t.item_type, structs)}"
    if isinstance(t, mi.DictType):
        key = type_name(t.key_type, structs)
        return f"mapping of {key} to {type_name(t.value_type, structs)}"
    if isinstance(t, mi.UnionType):
        return " or ".join(type_name(member, structs) for member in t.types)
    if isinstance(t, mi.StructType):
        if all(s.cls is not t.cls for s in structs):
            structs.append(t)
        return f"[{t.cls.__name__}](#{t.cls.__name__.lower()})"
    return type(t).__name__


def _default(field: mi.Field) -> str:
    if field.required:
        return "required"
    if field.default is not msgspec.NODEFAULT:
        value = msgspec.to_builtins(field.default)
    elif field.default_factory is not msgspec.NODEFAULT:
        value = msgspec.to_builtins(field.default_factory())
    else:
        return ""
    if isinstance(value, dict) and len(str(value)) > 40:
        return "defaults of its fields"
    return f"`{msgspec.json.encode(value).decode()}`"


def _section(struct: mi.StructType, structs: list[mi.StructType]) -> list[str]:
    cls = struct.cls
    lines = [f"## {cls.__name__}", ""]
    doc = inspect.getdoc(cls)
    if doc:
        lines += [markdown(doc), ""]
    if struct.tag_field is not None:
        lines += [f"Selected by `{struct.tag_field}: {struct.tag}`.", ""]
    docs = field_docs(cls)
    lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for field in struct.fields:
        cells = [
            f"`{field.encode_name}`",
            type_name(field.type, structs),
            _default(field),
            docs.get(field.name, ""),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return [*lines, ""]


def reference() -> str:
    """The whole page, starting at :class:`chaos.scenario.format.Scenario`."""
    root = mi.type_info(Scenario)
    assert isinstance(root, mi.StructType)
    structs: list[mi.StructType] = [root]
    lines = [HEADER]
    done = 0
    while done < len(structs):
        lines += _section(structs[done], structs)
        done += 1
    return "\n".join(lines).rstrip() + "\n"
