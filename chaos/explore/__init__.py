"""The explore room: faults drawn at random until something breaks, then shrunk. ``real`` runs
drawn scenarios on the real stack; ``virtual`` runs the real saga code on a deterministic model
of Temporal and its services; ``cli`` is ``saga explore``."""
