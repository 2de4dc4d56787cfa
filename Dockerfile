# One image for every app service of docker-compose.yml: the API, the four workers, the three
# simulators and the one-shot init. The command picks the role. It runs as `saga` (uid 10001),
# which owns /data (the API's key volume starts from it).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv \
    && useradd --system --uid 10001 --home-dir /app saga && mkdir -p /data && chown saga /data
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY orchestrator orchestrator
COPY simulators simulators
COPY chaos chaos
COPY observability observability
COPY runtime runtime
COPY scenarios scenarios
COPY k6 k6
RUN uv sync --frozen --no-dev
ENV PATH=/app/.venv/bin:$PATH
USER saga
