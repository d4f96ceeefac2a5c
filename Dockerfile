FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN useradd --create-home --uid 10001 sandbox
COPY pyproject.toml README.md ./
COPY sandbox ./sandbox
RUN pip install .
COPY run.py ./
COPY seed_data ./seed_data
COPY templates ./templates
COPY static ./static
RUN mkdir -p /app/instance && chown sandbox:sandbox /app/instance
USER sandbox
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
CMD ["python", "run.py", "--host", "0.0.0.0"]
