# kspan-py's image: `docker build -t ghcr.io/kspan-py/kspan-py:0.1.0 .`
# Runs `kspan-py run`; arguments given to `docker run IMAGE ...` (or a Pod's args) follow it.
# The manifests in deploy/ run it with a read-only root filesystem as uid 65532.

# ---- builder: the wheel, built from the sources (build tools stay in this stage) ----
FROM python:3.12-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# What the wheel is made of: the metadata (pyproject.toml names README.md as the readme) and the
# package with its data (the demo capture). .dockerignore keeps everything else out.
COPY pyproject.toml README.md ./
COPY kspan_py ./kspan_py
RUN pip wheel --no-deps --wheel-dir /dist .

# ---- final: the wheel and its dependencies in a venv, run as a non-root user ----
FROM python:3.12-slim

LABEL org.opencontainers.image.title="kspan-py" \
      org.opencontainers.image.description="Kubernetes Events as causally linked OpenTelemetry traces" \
      org.opencontainers.image.licenses="Apache-2.0"

# The wheel's dependencies come from PyPI as binary wheels only: nothing is compiled, and no
# compiler is needed (or present) in this stage. The venv is owned by root: read-only at run time.
COPY --from=builder /dist/ /tmp/dist/
RUN python -m venv /opt/kspan-py \
 && /opt/kspan-py/bin/pip install --no-cache-dir --disable-pip-version-check \
        --only-binary=:all: /tmp/dist/*.whl \
 && rm -rf /tmp/dist \
 && groupadd --gid 65532 kspan \
 && useradd --uid 65532 --gid 65532 --home-dir /var/lib/kspan-py --no-create-home \
        --shell /usr/sbin/nologin kspan \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/kspan-py

# pip compiled the bytecode at install time; at run time nothing is written next to the
# sources (the root filesystem may be read-only) and logs are not held in a buffer.
ENV PATH=/opt/kspan-py/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The only writable place the image provides: the checkpoint (--state-file /var/lib/kspan-py/...).
# In Kubernetes an emptyDir is mounted there (and at /tmp).
WORKDIR /var/lib/kspan-py
USER 65532:65532

EXPOSE 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["kspan-py", "run"]
