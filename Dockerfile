# fedrisk: one image for every role of a deployed federation (coordinator and member nodes).
#
#   docker build -t fedrisk .
#   docker compose up        # one coordinator + three members on one host (see compose.yaml, docs/deployment.md)
#
# The image holds code only: no data, no keys. Each container gets its own data and keys through volumes.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLWR_TELEMETRY_ENABLED=0 \
    FLWR_DISABLE_UPDATE_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0 \
    FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1 \
    FLWR_HOME=/var/lib/fedrisk/flwr-home

WORKDIR /opt/fedrisk
# torch first, the CPU build (the default index would pull a multi-GB CUDA build).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY src ./src
COPY deploy ./deploy
# Editable, so that the Flower app in deploy/flower-app sits next to the package (fedrisk.federation.deploy.APP_DIR).
RUN pip install -e . && useradd --create-home --uid 10001 fedrisk && mkdir -p /var/lib/fedrisk \
    && chown fedrisk /var/lib/fedrisk
USER fedrisk
ENTRYPOINT ["fedrisk"]
CMD ["--help"]
