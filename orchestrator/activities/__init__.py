"""Activities, grouped by the worker (task queue) that runs them."""
