# One image for every assetflow process: `assetflow migrate`, `assetflow api`, `assetflow worker`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/assetflow \
    PATH=/opt/assetflow/bin:$PATH

RUN pip install --no-cache-dir uv

WORKDIR /app
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY shared ./shared
COPY services ./services
RUN uv sync --locked --no-dev

RUN useradd --system --uid 10001 assetflow
USER assetflow

# Inside a container the api listens on every interface; compose maps the port.
ENV API_HOST=0.0.0.0 \
    WORKER_HOST=0.0.0.0
EXPOSE 8080 8081
ENTRYPOINT ["assetflow"]
CMD ["api"]
