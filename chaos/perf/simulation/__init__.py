"""A SimPy model of the saga at scale, calibrated on real runs (``saga simulate``)."""
