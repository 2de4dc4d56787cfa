"""Simulators of the services around the saga."""
