# Prometheus from Debian's package (2.42; the compose file's flags and config work on it), run
# as the package's `prometheus` user with its data in the package's /var/lib/prometheus (the
# compose file's command names no storage path), and wget for the healthcheck.
FROM saga-local/debian:bookworm
RUN apt-get update && apt-get install -y prometheus wget && rm -rf /var/lib/apt/lists/*
WORKDIR /var/lib/prometheus
USER prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml"]
