"""The verdicts room: what a run found and whether it held. ``bundle`` (the evidence from every
service), ``evidence`` (collecting it), ``checkers`` (the consistency invariants), ``oracle``
(the reference model: was each outcome right?), ``findings``, ``expect`` (a scenario's own
expectations), ``journal``, ``report`` and ``run_metadata`` (the results), ``cli``
(``saga check``)."""
