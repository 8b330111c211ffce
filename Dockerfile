# syntax=docker/dockerfile:1
#
# The platform image: the `gitops` command, run in a cluster as the rollback controller
# (`gitops guard ...`, deploy-repo/platform/guard/deployment.yaml). Base images are pinned by
# digest, the same pins as templates/app/Dockerfile (the tag says which release): python:3.14-slim
# is the multi-arch index of Python 3.14.7 on Debian trixie.

# ---- builder: resolve the locked environment with uv --------------------------
FROM python:3.14-slim@sha256:ce40764625a4ff50df3548277632e7f96c4e77fe75fa848aae9885476e7df5a4 AS builder
COPY --from=ghcr.io/astral-sh/uv:0.12.18@sha256:3adc3706091ce7c2fe595e669628caedd6d951551b92b258b7e7dbe06d9440bc /uv /uvx /bin/

# Compile bytecode at build time (the root file system is read-only at run time), copy rather
# than hard-link out of the cache mount, never download a Python: the venv must link to the base
# image's interpreter, which the runtime stage shares.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies first, in their own layer: reused until uv.lock changes. --no-dev leaves out the
# dev group (and the `check` extra it pulls in): the controller needs none of the linters.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project

# README.md is the package's readme: the build backend reads it for the metadata.
COPY pyproject.toml uv.lock README.md ./
COPY console ./console
# --no-editable: the runtime stage copies only the venv, not the source tree.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# ---- runtime: the venv, git and ssh on a slim base, as an unprivileged user ---
FROM python:3.14-slim@sha256:ce40764625a4ff50df3548277632e7f96c4e77fe75fa848aae9885476e7df5a4 AS runtime

ARG VERSION=""
ARG GIT_SHA=""
ARG SOURCE_URL=""

# The guard clones and pushes the deploy repo: git, and openssh-client for a deploy key.
# Not pinned to Debian revisions on purpose: the base is pinned by digest, and Debian's archive
# drops superseded revisions (security fixes), which would break every rebuild of a pinned list.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid matching the manifest's runAsUser/fsGroup. ssh needs a passwd entry for its
# uid, and takes ~/.ssh from that entry (not $HOME): /tmp, the one writable path.
RUN groupadd --system --gid 10001 gitops \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /tmp --shell /usr/sbin/nologin gitops

# Owned by root on purpose: the controller can run its code but not change it.
COPY --from=builder /app/.venv /app/.venv

# HOME=/tmp as in the manifest: git writes its config and the guard its clone there.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp

LABEL org.opencontainers.image.title="gitops-platform" \
      org.opencontainers.image.description="The gitops CLI and rollback controller (gitops guard)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"

WORKDIR /tmp
USER 10001:10001
# gitops guard serves /metrics, /healthz and /readyz here (the manifest's port `metrics`).
EXPOSE 9090

# Slim images have no curl: the standard library asks the guard's /healthz. Kubernetes ignores
# this and uses the manifest's probes; it serves `docker run` and compose.
HEALTHCHECK --interval=20s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2)"]

ENTRYPOINT ["gitops"]
CMD ["guard", "--help"]
