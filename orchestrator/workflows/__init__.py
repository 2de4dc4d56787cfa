"""Temporal workflows: the payment saga and its fraud-check child."""
