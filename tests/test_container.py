"""The container, short of building it (no Docker engine runs where this suite runs): the Dockerfile
passes hadolint, and compose.yaml runs the image's own health check on the ports it exposes. The
image's install, start and health-check commands are run outside a container by
tests/live/test_wheel.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT


def dockerfile() -> dict:
    """The Dockerfile's ENV settings, EXPOSEd ports, HEALTHCHECK command and CMD (exec forms)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", text, re.M):
        env.update(dict(pair.split("=", 1) for pair in line.split()))
    return {
        "env": env,
        "expose": [p for line in re.findall(r"^EXPOSE (.+)$", text, re.M) for p in line.split()],
        "health": json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.+\])$", text, re.M).group(1)),
        "cmd": json.loads(re.search(r"^CMD (\[.+\])$", text, re.M).group(1)),
    }


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    proc = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_runs_the_images_health_check_on_its_ports():
    d = dockerfile()
    service = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["sandbox"]
    assert service["healthcheck"]["test"] == ["CMD", *d["health"]]
    assert sorted(p.split(":")[1] for p in service["ports"]) == sorted(d["expose"])
    assert {d["env"]["SANDBOX_PORT"], d["env"]["SANDBOX_DEMO_PORT"]} == set(d["expose"])
    assert d["cmd"] == ["green-button-sandbox"] and d["env"]["SANDBOX_HOST"] == "0.0.0.0"


def test_the_hosted_compose_file_is_one_deployment_that_holds_together():
    """compose.hosted.yaml (docs/hosting.md): every setting it gives is one the sandbox reads, the
    sandbox reaches the database it defines, the proxy's address is the public URL every written URL
    uses, and it forwards to the port the image serves on."""
    from sandbox.core.config import ENVIRONMENT

    d = dockerfile()
    services = yaml.safe_load((ROOT / "compose.hosted.yaml").read_text())["services"]
    env, pg = services["sandbox"]["environment"], services["postgres"]["environment"]
    assert set(env) <= set(ENVIRONMENT), set(env) - set(ENVIRONMENT)
    db = env["SANDBOX_DATABASE_URL"]
    assert db == f"postgresql+psycopg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres/{pg['POSTGRES_DB']}"
    assert '".[postgres]"' in (ROOT / "Dockerfile").read_text()  # the image has the PostgreSQL driver
    command = services["proxy"]["command"]
    assert command[command.index("--from") + 1] == env["SANDBOX_PUBLIC_URL"].rstrip("/")
    assert command[command.index("--to") + 1] == f"sandbox:{d['env']['SANDBOX_PORT']}"
    assert env["SANDBOX_PROXY_HOPS"] == "1" and env["SANDBOX_PUBLIC_URL"].startswith("https://")
    assert services["sandbox"]["depends_on"]["postgres"]["condition"] == "service_healthy"
