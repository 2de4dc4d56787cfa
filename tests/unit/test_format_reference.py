"""docs/scenario-format.md is generated from the structs that parse scenario files: it is
current, documents every field of every struct a scenario can contain, and says what each is."""

from __future__ import annotations

import pytest
from msgspec import inspect as mi

from chaos.scenario.format import Scenario
from chaos.scenario.reference import PAGE, field_docs, reference
from runtime.cli import main as saga


def _structs() -> list[mi.StructType]:
    seen: list[mi.StructType] = []

    def walk(t: mi.Type) -> None:
        if isinstance(t, mi.StructType):
            if any(s.cls is t.cls for s in seen):
                return
            seen.append(t)
            for f in t.fields:
                walk(f.type)
        for attr in ("item_type", "key_type", "value_type"):
            if hasattr(t, attr):
                walk(getattr(t, attr))
        if isinstance(t, mi.UnionType):
            for member in t.types:
                walk(member)

    walk(mi.type_info(Scenario))
    return seen


def test_the_page_is_current() -> None:
    assert PAGE.read_text() == reference(), (
        "docs/scenario-format.md is stale: run `saga scenario reference > docs/scenario-format.md`"
    )


def test_every_field_of_every_struct_is_documented() -> None:
    undocumented = [
        f"{s.cls.__name__}.{f.name}"
        for s in _structs()
        for f in s.fields
        if f.name not in field_docs(s.cls)
    ]
    assert undocumented == []
    assert {s.cls.__name__ for s in _structs()} >= {"ProviderKnobs", "LedgerFault", "Count"}


def test_saga_scenario_reference_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        saga(["scenario", "reference"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == reference()
