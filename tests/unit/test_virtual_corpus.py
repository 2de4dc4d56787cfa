"""The virtual regression corpus: schedules that once found a real defect, run again on every
change. Each file in ``tests/virtual_corpus/`` failed on the code before its fix (the commit that
added it says which fix) and must hold from then on; ``saga explore --virtual --replay FILE``
runs one by hand.

- ``terminate-at-notify.json``: the reconciler refunded and voided a payment terminated at
  notify after it had succeeded (issue 34, item 2).
- ``refused-debit-retry.json``: a debit retry refused by the velocity limit dropped the refund,
  and the stalled first attempt committed 400 s later (issue 34, item 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.virtual.explore import Runner
from chaos.virtual.schedule import decode

CORPUS = Path(__file__).parents[1] / "virtual_corpus"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda p: p.stem)
def test_corpus_schedule_holds(path: Path) -> None:
    schedule = decode(path.read_bytes(), str(path))
    with Runner() as runner:
        result = runner.run(schedule)
    assert not result.failed, "\n".join(f"{c.name}: {c.summary()}" for c in result.failed)


def test_the_corpus_is_listed_in_this_module() -> None:
    listed = {p.name for p in CORPUS.glob("*.json")}
    assert listed and all(name in (__doc__ or "") for name in listed)
