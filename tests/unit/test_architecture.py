"""Imports follow one DAG: the saga (``orchestrator``) knows nothing of what runs or attacks it.

::

    orchestrator  <-  simulators      <-  chaos (may import every package)
                  <-  observability   <-
                  <-  runtime         <-

``simulators``, ``observability`` (the dashboards and alert rules, as code and assets) and
``runtime`` import only ``orchestrator``, never each other: ``runtime`` starts the simulators
as processes, by module name, and reads the alert rules as a file. Nothing imports ``chaos``:
the ``saga`` CLI finds the harness's commands through the ``saga.commands`` entry point group.
:data:`DAG` is the one statement of it; a package may import itself and what :data:`DAG` lists
for it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import msgspec

from chaos.nemesis.registry import Fault

#: Package -> the project packages it may import.
DAG: dict[str, frozenset[str]] = {
    "orchestrator": frozenset(),
    "simulators": frozenset({"orchestrator"}),
    "observability": frozenset({"orchestrator"}),
    "runtime": frozenset({"orchestrator"}),
    "chaos": frozenset({"orchestrator", "simulators", "observability", "runtime"}),
}
LAYERS = tuple(DAG)
ROOT = Path(__file__).resolve().parents[2]


def imported_packages(path: Path) -> set[str]:
    """The top-level project packages a module imports, anywhere in it (function bodies too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def violations() -> list[str]:
    """``file imports package`` for every import the DAG does not allow."""
    found = []
    for layer, below in DAG.items():
        allowed = below | {layer}
        for path in sorted((ROOT / layer).rglob("*.py")):
            for package in sorted(imported_packages(path) - allowed):
                found.append(f"{path.relative_to(ROOT)} imports {package}")
    return found


def test_imports_flow_one_way() -> None:
    assert violations() == []


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from chaos.run.metrics import X\n    import runtime.cli\n")
    assert imported_packages(module) == {"chaos", "runtime"}


def test_the_product_knows_no_mutant() -> None:
    """Issue 28: the harness's deliberately broken sagas live in ``chaos/mutants``; the product
    has no field, flag or import that could run one."""
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "orchestrator").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "mutant" in line.lower()
    ]
    assert found == []


def test_the_simulators_do_not_reach_into_the_api() -> None:
    """The simulators stand in for third parties: they share the neutral modules
    (``orchestrator.problems``, signing, config), never the API's own."""
    found = []
    for path in sorted((ROOT / "simulators").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("orchestrator.api")
            ]
    assert found == []


def test_the_harness_is_in_rooms_the_readme_names() -> None:
    """Issue 28: ``chaos/`` was one flat room of 26 modules. Now only its package files sit at
    the top; every room is in the README's map, and none holds much more than a quarter of the
    code."""
    chaos = ROOT / "chaos"
    top = sorted(p.name for p in chaos.glob("*.py"))
    assert top == ["__init__.py", "commands.py", "errors.py"]
    rooms = sorted(p.name for p in chaos.iterdir() if (p / "__init__.py").exists())
    readme = (ROOT / "README.md").read_text()
    assert [r for r in rooms if f"  {r}/ " not in readme] == []
    lines = {
        r: sum(len(p.read_text().splitlines()) for p in (chaos / r).rglob("*.py")) for r in rooms
    }
    total = sum(lines.values())
    assert {r: n for r, n in lines.items() if n > 0.3 * total} == {}


def test_the_harness_seams_are_off_unless_the_config_turns_them_on(tmp_path: Path) -> None:
    """Issue 28/30: failpoints and partial links are one seam behind one switch; a deployment
    (the switch off) reads neither file, whatever is written into its state directory."""
    import asyncio

    from orchestrator import seams
    from orchestrator.failpoints import FILE_NAME as FAILPOINTS_FILE
    from orchestrator.partial_links import PartialLinkTransport
    from tests.unit.stack_configs import unreachable_config

    (tmp_path / FAILPOINTS_FILE).write_text('{"debit": {"delay_ms": 5000}}')
    off = unreachable_config(state_dir=str(tmp_path))
    on = msgspec.structs.replace(off, harness_seams=True)
    assert seams.failpoints(off).current() == {}
    assert set(seams.failpoints(on).current()) == {"debit"}

    async def transports() -> tuple[object, object]:
        async with seams.http_client(off) as plain, seams.http_client(on) as linked:
            return plain._transport, linked._transport

    plain, linked = asyncio.run(transports())
    assert not isinstance(plain, PartialLinkTransport)
    assert isinstance(linked, PartialLinkTransport)


#: The fault types of the scenario format (each kind's struct, ``chaos.nemesis.registry``).
FAULT_TYPES = {t.__name__ for t in get_args(Fault)}


def type_dispatches(path: Path, root: Path = ROOT) -> list[str]:
    """``isinstance(x, <fault type>)`` and ``type(x) is <fault type>`` in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        checked: ast.AST | None = None
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
            checked = node.args[1] if len(node.args) > 1 else None
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Call)
            and getattr(node.left.func, "id", None) == "type"
        ):
            checked = node.comparators[0]
        if checked is None:
            continue
        names = {getattr(n, "id", getattr(n, "attr", None)) for n in ast.walk(checked)}
        for name in sorted(names & FAULT_TYPES):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return found


def test_no_module_outside_the_nemesis_package_dispatches_on_a_fault_type() -> None:
    outside = [
        path
        for folder in ("chaos", "runtime", "tests", "orchestrator", "simulators")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "nemesis" not in path.relative_to(ROOT).parts
    ]
    found = [hit for path in outside for hit in type_dispatches(path)]
    assert found == []


def test_the_scan_sees_both_forms_of_dispatch(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "isinstance(f, ToxicFault | LinkDownFault)\nif type(f) is scenario.LedgerFault: pass\n"
    )
    found = [hit.split(": ")[1] for hit in type_dispatches(module, tmp_path)]
    assert found == ["LinkDownFault", "ToxicFault", "LedgerFault"]
