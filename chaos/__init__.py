"""The chaos harness: named scenarios run against the real stack, with evidence and verdicts.

It is in rooms, by the run's lifecycle (after chaostoolkit): ``scenario`` (the file format: load
and validate), ``nemesis`` (one module per fault kind), ``run`` (steady state, the workload and
the fault timeline, the rollback that always runs), ``verdicts`` (evidence, checkers, the
reference model, expectations, journal and report), ``mutants`` (the harness measuring itself),
``explore`` (drawn faults, on the real stack and in virtual time) and ``perf`` (load, benchmark,
SimPy model). A room with a command has its own ``cli``; ``commands`` registers them.

Exception tree::

    ChaosError
    ├── ScenarioError        a scenario file is missing or invalid (names file and YAML path)
    └── SteadyStateError     the system was not healthy before the scenario started
"""
