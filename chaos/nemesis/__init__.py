"""Fault kinds, one module each (Jepsen calls the thing that breaks a system a nemesis).

``base`` says what every kind provides; ``registry`` lists the kinds (``docs/faults.md`` has a
table of them). Adding a kind is a module here and a line in the registry.
"""
