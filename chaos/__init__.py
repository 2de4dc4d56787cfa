"""The chaos harness: named scenarios run against the real stack, with evidence and verdicts.

The run lifecycle, one module each (after chaostoolkit): ``scenario`` (load and validate),
``steady_state`` (is the system healthy before we start), ``workload`` and ``faults`` (the
method), rollback (``faults.FaultInjector.rollback``, always runs), ``evidence`` and ``expect``
(what happened and whether it held), ``journal`` and ``report`` (the results).

Exception tree::

    ChaosError
    ├── ScenarioError        a scenario file is missing or invalid (names file and YAML path)
    └── SteadyStateError     the system was not healthy before the scenario started
"""
