"""Fault kinds, one module each (Jepsen calls the thing that breaks a system a nemesis).

``base`` says what every kind provides; ``registry`` lists them. The kinds: ``toxic`` and
``link_down`` (Toxiproxy), ``process`` (signals and restarts), ``knobs`` (a simulator's behaviour
mid-run), ``upgrade`` (a worker build rolled out), ``workflow`` (the Temporal API's cancel,
terminate and delete), ``ledger`` (the accounts database locked or slow).
"""
