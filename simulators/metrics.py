"""The simulators' prometheus-client metrics (``sim_*``): what they did and the faults they
injected. Each simulator serves them on its own ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter

SIM_PROVIDER_CHARGES = Counter(
    "sim_provider_charges",
    "Charges the mock provider answered, by result",
    ["result"],  # accepted | declined | replayed | refused_voided
)
SIM_PROVIDER_FAULTS = Counter(
    "sim_provider_faults_injected", "Transport faults the provider injected", ["kind"]
)
SIM_PROVIDER_CALLBACKS = Counter(
    "sim_provider_callbacks",
    "Provider callbacks by what happened to them",
    ["result"],  # delivered | delivery_failed | dropped | duplicated | foreign
)
SIM_FRAUD_SCORES = Counter(
    "sim_fraud_scores", "Scoring requests the fraud service answered", ["result"]
)  # pass | fail | error
SIM_NOTIFICATIONS = Counter(
    "sim_notifications", "Messages the notification service took", ["channel", "result"]
)
