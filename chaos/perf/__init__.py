"""The performance room: ``load`` and ``k6`` (``saga load``: k6 under faults), ``bench``
(``saga bench``: throughput and cost per payment), ``simulation`` (the SimPy model: capacity
beyond one machine), ``percentiles``, and ``cli`` (``saga load``, ``saga bench``)."""
