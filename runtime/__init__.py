"""The runtime: the embedded stack, process control, seeding, links, the ``saga`` CLI, the demo
and history recording. It runs the saga (``orchestrator``) and the simulators; the chaos harness
(``chaos``) builds on it."""
