"""The virtual regression corpus: schedules that once found a real defect, run again on every
change. Each file in ``tests/virtual_corpus/`` failed on the code before its fix (the commit that
added it says which fix) and must hold from then on; ``saga explore --virtual --replay FILE``
runs one by hand.

- ``terminate-at-notify.json``: the reconciler refunded and voided a payment terminated at
  notify after it had succeeded (issue 34, item 2).
- ``refused-debit-retry.json``: a debit retry refused by the velocity limit dropped the refund,
  and the stalled first attempt committed 400 s later (issue 34, item 4).
- ``late-capture-after-cancel.json``: a Temporal cancel while the charge's only attempt went
  unanswered; the strict provider made the charge 90 s later and captured it, and the
  reconciler could only list it for review, the debit refunded *and* the money captured
  (issue 34, item 7; found by ``saga explore --virtual`` once it could make a charge late,
  schedule 1000110). The reconciler now refunds such a capture at the provider.
- ``late-charge-after-a-settling-pass.json``: the same late charge, with a reconciler pass
  between the saga's close and the charge: before the ``late-charges`` horizon that pass settled
  the payment for good, and no later pass looked at its charge (issue 34, item 7; written by
  hand from the one above).
- ``refused-debit-terminated-at-notice.json``: a payment refused by the velocity limit (no
  debit) was terminated while its notice failed; no debit list held it, so no reconciler pass
  ever told its user (issue 34, item 8; found by ``saga explore --virtual`` once the world
  checked that terminated payments are told, schedule 1000393).
- ``terminated-before-its-debit.json``: terminated while its debit waited out a ledger outage,
  nothing in the ledger, never told (issue 34, item 8; written by hand).
- ``terminated-notice-channel-refused.json``: terminated at its debit while the notification
  service refused sms; the reconciler's repair notice went by sms only, was refused every
  pass, and the user was never told (found by ``saga explore --virtual`` as soon as the world
  could refuse a channel, schedule 7000009, before the reconciler's notice-channel-fallback).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.explore.virtual.explore import Runner
from chaos.explore.virtual.schedule import decode

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
