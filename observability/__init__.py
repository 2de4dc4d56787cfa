"""Dashboards as code (Grafana) and the compose-side Prometheus config."""
