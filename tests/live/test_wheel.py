"""The wheel is enough: built from this checkout, installed in a fresh virtualenv outside it, its
`green-button-sandbox` command serves the site with the templates, static files and seed data it carries."""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from .server import ROOT

pytestmark = pytest.mark.live

_RUNNING = re.compile(r"^Green Button Sandbox running at (http://\S+)$")


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: hatchling comes from the test extra, so the build needs no index
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT))
    (found,) = out.glob("greenbutton_sandbox-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A virtualenv outside the checkout with the wheel installed and no copy of the dependencies: a
    .pth file lists this venv's site-packages. A .pth line only adds a directory to sys.path, so the
    editable install's own .pth there is not run and `sandbox` can only come from the wheel."""
    env_dir = tmp_path_factory.mktemp("venv") / "v"
    _run(sys.executable, "-m", "venv", "--without-pip", str(env_dir))
    python = env_dir / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-index",
        "--quiet",
        str(wheel),
    )
    purelib = _run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    ours = [p for p in site.getsitepackages() if os.path.isdir(p)]
    Path(purelib, "_outer_venv_dependencies.pth").write_text("".join(f"{p}\n" for p in ours), encoding="utf-8")
    return env_dir


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "PYTHON", "FLASK_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read()


def test_the_release_builds_and_passes_twine_check(tmp_path):
    """What .github/workflows/release.yml does: an sdist and a wheel, checked as the package index
    checks them (metadata, the README rendered as the project's description)."""
    _run(sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT))
    built = sorted(p.name for p in tmp_path.iterdir())
    assert len(built) == 2 and built[0].endswith("-py3-none-any.whl") and built[1].endswith(".tar.gz"), built
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(tmp_path.iterdir())))
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    workflow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "python -m build --sdist --wheel" in workflow and "twine check --strict dist/*" in workflow


def test_the_wheel_carries_templates_static_files_seed_data_and_schemas(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for prefix in ("sandbox/templates/", "sandbox/static/", "sandbox/seed_data/utilities/"):
        assert any(n.startswith(prefix) for n in names), prefix
    for name in (
        "sandbox/templates/base.html",
        "sandbox/seed_data/world.toml",
        "sandbox/espi/schema/espi.xsd",
        "sandbox/espi/schema/gb-feed-wrapper.xsd",
        "sandbox/espi/schema/README.md",
        "sandbox/py.typed",
    ):
        assert name in names, name
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "green-button-sandbox = sandbox.server:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_command_serves_the_site(venv, tmp_path):
    env = _clean_env()
    where = _run(
        str(venv / "bin" / "python"),
        "-c",
        "import sandbox, sandbox.core.config as c; print(sandbox.__file__); print(c.ROOT)",
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    package = Path(where[0]).parent
    assert package.is_relative_to(venv) and not package.is_relative_to(ROOT)
    assert Path(where[1]) == package  # the resources are found inside the installed package

    proc = subprocess.Popen(
        [
            str(venv / "bin" / "green-button-sandbox"),
            "--port",
            "0",
            "--demo-port",
            "0",
            "--database",
            str(tmp_path / "w.db"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    found, url, stderr = threading.Event(), [], []

    def read_stdout():
        for line in proc.stdout:
            m = _RUNNING.match(line.rstrip("\n"))
            if m and not url:
                url.append(m.group(1))
                found.set()
        found.set()  # the server stopped before it said where it runs

    def read_stderr():  # drained all along: a full pipe would block the server
        stderr.extend(proc.stderr)

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for t in readers:
        t.start()
    try:
        if not found.wait(120) or not url:
            proc.kill()
            for t in readers:
                t.join(10)
            pytest.fail(f"green-button-sandbox did not start: {''.join(stderr)}")
        status, body = get(url[0] + "/healthz")
        assert status == 200 and b'"ok"' in body
        status, body = get(url[0] + "/")  # rendered from the wheel's templates
        assert status == 200 and b"<html" in body.lower()
        status, body = get(url[0] + "/static/css/sandbox.css")
        assert status == 200 and body
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for t in readers:
            t.join(10)


def test_the_images_start_and_health_check_commands_work_outside_a_container(venv, tmp_path):
    """The Dockerfile's CMD, with its ENV (on free ports), answers its HEALTHCHECK command within the
    start period; the install is the wheel this tree builds (the image's `pip install .`)."""
    from test_container import dockerfile

    from .server import free_port

    d = dockerfile()
    env = {
        **_clean_env(),
        **d["env"],
        "SANDBOX_PORT": str(free_port()),
        "SANDBOX_DEMO_PORT": str(free_port()),
        "SANDBOX_DATABASE_URL": str(tmp_path / "sandbox.db"),
        "SANDBOX_CUSTOMERS": "2",
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }

    def healthy() -> int:
        return subprocess.run(d["health"], env=env, cwd=tmp_path, capture_output=True, timeout=30).returncode

    assert healthy() != 0  # nothing runs yet: the check says so
    proc = subprocess.Popen(d["cmd"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20  # the HEALTHCHECK's start period
        while healthy() != 0:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "not healthy within the start period"
        status, _ = get(f"http://127.0.0.1:{env['SANDBOX_DEMO_PORT']}/")  # the demo app, on its own port
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0  # SIGTERM (docker stop) is a clean stop
