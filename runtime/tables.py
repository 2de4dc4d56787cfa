"""Plain text tables for the CLI's reports."""

from __future__ import annotations


def render_table(rows: list[list[str]]) -> str:
    """A plain text table with a header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
