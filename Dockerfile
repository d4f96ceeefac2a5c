# The base image: any with Python 3.11+ and pip (a mirror's, or one made with debootstrap) works.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 sandbox
WORKDIR /src
# The package and what the wheel carries inside it (templates, static files, seed data).
COPY pyproject.toml README.md LICENSE ./
COPY sandbox ./sandbox
COPY templates ./templates
COPY static ./static
COPY seed_data ./seed_data
# with the PostgreSQL driver: the same image serves a laptop (SQLite) and a shared deployment
# (compose.hosted.yaml, PostgreSQL)
# (the package of the build context itself, not one of the index: nothing to pin)
# hadolint ignore=DL3013
RUN python3 -m pip install ".[postgres]" && rm -rf /src
# The database lives in /data (mount a volume there to keep it across containers).
RUN mkdir -p /data && chown sandbox:sandbox /data
WORKDIR /data
# The utilities on 8080 and the demo third-party app on 8081 (SANDBOX_DEMO_APP=0 turns it off).
ENV SANDBOX_HOST=0.0.0.0 SANDBOX_PORT=8080 SANDBOX_DEMO_PORT=8081 SANDBOX_DATABASE_URL=/data/sandbox.db
USER 10001
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["python3", "-m", "sandbox.healthcheck"]
CMD ["green-button-sandbox"]
