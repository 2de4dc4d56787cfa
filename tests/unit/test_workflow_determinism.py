"""The determinism guard the deployed workers no longer run: workflow modules read for I/O,
clocks and randomness outside ``workflow.*``.

The workers run workflow code without the SDK's sandbox (``StackConfig.workflow_sandbox``, off
for its CPU cost). What the sandbox would have refused at run time is refused here, from the
source, before anything is deployed; the workflow tests still run in the sandbox, and the replay
gate replays recorded histories.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chaos.mutants.sagas
import orchestrator.workflows

WORKFLOW_DIR = Path(orchestrator.workflows.__file__).parent
#: The product's workflows, and the mutants' (workers run them too, unsandboxed).
WORKFLOW_MODULES = [*sorted(WORKFLOW_DIR.glob("*.py")), Path(chaos.mutants.sagas.__file__)]

#: Modules a workflow module may not import at its top level (outside the SDK's passthrough
#: block, where only names are borrowed): each does I/O, reads a clock or draws randomness.
FORBIDDEN_MODULES = {
    "time",
    "random",
    "secrets",
    "uuid",
    "os",
    "socket",
    "subprocess",
    "threading",
    "sqlite3",
    "psycopg",
    "httpx",
    "requests",
}
#: Calls that read the clock, draw randomness, sleep for real or open files, by their dotted
#: name as written (``workflow.now()`` and ``workflow.uuid4()`` are the deterministic forms).
FORBIDDEN_CALLS = {
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "asyncio.sleep",
    "asyncio.get_event_loop",
    "open",
    "print",
    "input",
}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _passthrough_block(node: ast.AST) -> bool:
    return isinstance(node, ast.With) and any(
        _dotted(
            item.context_expr.func if isinstance(item.context_expr, ast.Call) else item.context_expr
        )
        == "workflow.unsafe.imports_passed_through"
        for item in node.items
    )


def violations(source: str, name: str = "<source>") -> list[str]:
    """Every forbidden import or call in a workflow module's source, as ``name:line: what``."""
    tree = ast.parse(source)
    passed_through = {
        id(inner) for node in ast.walk(tree) if _passthrough_block(node) for inner in ast.walk(node)
    }
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in passed_through:
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in FORBIDDEN_MODULES:
                    found.append((node.lineno, f"imports {module}"))
        elif isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called in FORBIDDEN_CALLS:
                found.append((node.lineno, f"calls {called}()"))
    return [f"{name}:{line}: {what}" for line, what in sorted(found)]


@pytest.mark.parametrize("module", WORKFLOW_MODULES, ids=lambda p: p.name)
def test_workflow_modules_do_no_io_and_read_no_clock(module: Path) -> None:
    assert violations(module.read_text(), module.name) == []


def test_the_guard_finds_what_the_sandbox_would_refuse() -> None:
    broken = """
import random
from datetime import datetime
from temporalio import workflow
with workflow.unsafe.imports_passed_through():
    import httpx  # borrowed names only: allowed

@workflow.defn
class Broken:
    @workflow.run
    async def run(self) -> None:
        started = datetime.now()
        await asyncio.sleep(1)
        print(random.random(), started)
"""
    assert violations(broken) == [
        "<source>:2: imports random",
        "<source>:12: calls datetime.now()",
        "<source>:13: calls asyncio.sleep()",
        "<source>:14: calls print()",
    ]


def test_the_modules_checked_hold_the_saga() -> None:
    names = {p.name for p in WORKFLOW_MODULES}
    assert {"payment.py", "fraud.py", "compensation.py", "reconcile.py"} <= names
