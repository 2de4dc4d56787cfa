# The Temporal server built from go.temporal.io/server (make temporal-server), its SQL tool and
# schemas, and the temporal CLI (the compose healthcheck), started the way temporalio/auto-setup
# starts (see temporal-entrypoint.sh), as the `temporal` user.
FROM saga-local/debian:bookworm
RUN useradd --system --uid 1000 --home-dir /etc/temporal temporal \
    && mkdir -p /etc/temporal/config/dynamicconfig && chown -R temporal /etc/temporal/config
COPY temporal-server temporal-sql-tool temporal temporal-entrypoint.sh /usr/local/bin/
COPY schema /etc/temporal/schema
WORKDIR /etc/temporal
USER temporal
ENTRYPOINT ["temporal-entrypoint.sh"]
