"""The README stays a ten-minute read that links every page of docs/, and no page links a file
that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_is_short_and_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages, "no docs pages"
    assert pages <= set(LINK.findall(readme)), pages - set(LINK.findall(readme))


def test_relative_links_resolve() -> None:
    broken = []
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_counts_in_the_docs_are_the_real_ones() -> None:
    """Issue 30: "32 named scenarios" and "18 mutants" had gone stale."""
    from chaos.mutants.sagas import MUTANTS
    from chaos.mutants.score import QUICK
    from chaos.scenario.format import scenario_files

    readme = (ROOT / "README.md").read_text()
    scenarios = len(scenario_files())
    assert f"# {scenarios} named scenarios" in readme
    harness = (ROOT / "docs" / "harness.md").read_text()
    assert f"{len(MUTANTS)} mutants of `PaymentWorkflow`" in harness
    assert f"{len(QUICK)}-mutant `--quick` subset" in harness
    testing = (ROOT / "docs" / "testing.md").read_text()
    assert f"`saga mutants run --quick`, {len(QUICK)} mutants" in testing
