# Prometheus from Debian's package (2.42; the compose file's flags and config work on it), with
# prom/prometheus's entrypoint and user (nobody, as docker-compose.yml names it). Its data goes
# to the package's default path (the compose file's command names none), owned by that user;
# wget for the healthcheck.
FROM saga-local/debian:bookworm
RUN apt-get update && apt-get install -y prometheus wget && rm -rf /var/lib/apt/lists/* \
    && chown -R nobody:nogroup /var/lib/prometheus
WORKDIR /var/lib/prometheus
USER nobody
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml"]
