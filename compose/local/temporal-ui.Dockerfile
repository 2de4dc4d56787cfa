# The Temporal UI server built from github.com/temporalio/ui-server (its web assets are embedded),
# with its docker.yaml config template, started as temporalio/ui starts it, as a non-root user.
FROM saga-local/debian:bookworm
RUN useradd --system --uid 1000 --home-dir /home/ui-server ui-server && mkdir -p /home/ui-server
COPY ui-server /home/ui-server/ui-server
COPY config /home/ui-server/config
WORKDIR /home/ui-server
USER ui-server
ENTRYPOINT ["./ui-server", "--env", "docker", "start"]
