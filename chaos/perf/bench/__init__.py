"""``saga bench``: the ceiling, the full system under k6, and the cost of one payment."""
