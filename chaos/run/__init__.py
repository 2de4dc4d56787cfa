"""The run room: one scenario against one stack. ``runner`` (the lifecycle: steady state,
workload and fault timeline together, rollback, evidence, verdicts), ``workload`` (the payments
through the API), ``timeline`` (the faults' schedule and the rollback; each fault kind lives in
``chaos.nemesis``), ``steady_state``, ``metrics`` (the harness's own) and ``cli``
(``saga scenario``), with ``stacks`` (which stack a command attacks)."""
