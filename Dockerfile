# One image for every app service of docker-compose.yml: the API, the four workers, the three
# simulators and the one-shot init. The command picks the role.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv
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
