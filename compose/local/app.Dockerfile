# The app services (API, workers, simulators, init) on Debian's Python 3.11 with the project's
# virtualenv made by `uv sync --no-dev` on the host (same Debian, same Python): no index is
# reached from inside the build. The command picks the role, as with the top-level Dockerfile.
FROM saga-local/debian:bookworm
RUN apt-get update && apt-get install -y python3.11 libpq5 && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app saga \
    && mkdir -p /data && chown saga /data
ENV PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:$PATH PYTHONPATH=/app
WORKDIR /app
COPY app /app
USER saga
