# jobfleet-exporter container image.
#
#   docker build -t jobfleet-exporter --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run -p 9760:9760 jobfleet-exporter --demo --web.listen-address=:9760
#
# BASE_IMAGE is any Debian-like image with python3 (>= 3.11) and its venv module; both stages
# use it, so the venv built in the first runs unchanged in the second.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first, from hash-pinned locks, so that a code change reuses this layer. The
# runtime venv gets no pip or setuptools of its own: the build venv's pip installs into it.
COPY requirements.lock requirements-build.lock ./
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes -r requirements-build.lock \
    && python3 -m venv --without-pip /opt/jobfleet-exporter \
    && /opt/build/bin/pip --python /opt/jobfleet-exporter/bin/python install --no-cache-dir \
        --require-hashes -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
# The commit built, for jobfleet_build_info{revision} and the revision label.
ARG REVISION=unknown
# The project itself: no dependency resolution and no download, only what the locks pinned.
RUN printf '%s\n' "${REVISION}" > exporter/REVISION \
    && /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --no-index -w /wheels . \
    && /opt/build/bin/pip --python /opt/jobfleet-exporter/bin/python install --no-cache-dir \
        --no-deps --no-index /wheels/*.whl \
    && mkdir /state

FROM ${BASE_IMAGE}
# VERSION is exporter.__version__ (a test checks this default agrees; the release passes the tag).
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="jobfleet-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Ray and AI jobs on EMR Serverless Spark, Ray, openYuanrong and ModelArts Lite Servers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/jobfleet/jobfleet-exporter" \
      org.opencontainers.image.documentation="https://github.com/jobfleet/jobfleet-exporter/blob/main/docs/deploy.md" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/jobfleet-exporter /opt/jobfleet-exporter
# The state directory (for state_file) is the one place the exporter writes: with a read-only
# root filesystem, mount a volume here.
COPY --from=build --chown=65532:65532 /state /var/lib/jobfleet-exporter
ENV PATH=/opt/jobfleet-exporter/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JOBFLEET_HEALTHCHECK_URL=http://127.0.0.1:9760/healthz
USER 65532:65532
WORKDIR /var/lib/jobfleet-exporter
VOLUME ["/var/lib/jobfleet-exporter"]
EXPOSE 9760
# /healthz answers while the process serves. Set JOBFLEET_HEALTHCHECK_URL when listening
# elsewhere; with basic auth or client certificates, use your orchestrator's probe instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as r; r.urlopen(os.environ['JOBFLEET_HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["jobfleet-exporter"]
CMD ["--config.file=/etc/jobfleet-exporter/config.yaml"]
