"""Start-up imports what serving needs at once, and leaves the libraries of rarer requests to the
first request that uses them: the control API's JSON Schema checks (jsonschema), the abuse limits
(limits), the demo app's HTTP and OAuth client (requests, Authlib's requests client). Each is then
imported by that request, and does its work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ADMIN_KEY, ROOT

DEFERRED = ("jsonschema", "limits", "requests", "authlib.integrations.requests_client")

# run in a fresh interpreter: the test process has imported everything already
PROGRAM = """
import json, sys
from sandbox import create_app
from sandbox.demo.app import create_demo_app

deferred = {deferred!r}
loaded = lambda: sorted(name for name in deferred if name in sys.modules)
app = create_app({{"DATABASE_URL": {url!r}, "TESTING": True, "ADMIN_KEY": {key!r}}})
demo = create_demo_app("http://127.0.0.1:9")
out = {{"built": loaded()}}
client = app.test_client()
answer = client.post("/sandbox-api/clock", json={{"nonsense": 1}}, headers={{"Authorization": "Bearer {key}"}})
out["control"] = [answer.status_code, answer.get_json().get("field"), loaded()]
answer = client.post("/dc/bayview/oauth/token", data={{"grant_type": "client_credentials", "client_id": "nobody"}})
out["token"] = [answer.status_code, loaded()]
print(json.dumps(out))
"""


def test_building_both_apps_leaves_the_libraries_of_rarer_requests_unimported(seeded_worlds, tmp_path):
    url = seeded_worlds.copy(tmp_path / "start.db")
    code = PROGRAM.format(deferred=DEFERRED, url=url, key=ADMIN_KEY)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["built"] == []
    # the control API's first body check imports jsonschema, and refuses the body naming the field
    status, field, loaded = out["control"]
    assert status == 400 and field == "nonsense" and "jsonschema" in loaded
    # the token endpoint is guarded by limits: its first call imports the library and answers as before
    status, loaded = out["token"]
    assert status == 401 and "limits" in loaded


def test_numpy_starts_no_pool_of_blas_threads_unless_asked_to():
    """OpenBLAS's thread pool cost every start about 50 ms, for linear algebra the sandbox never does."""
    # the threads are counted where /proc lists them (Linux, where the suite runs); elsewhere only the setting
    code = (
        "import os, sandbox, numpy; tasks = '/proc/self/task'; "
        "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir(tasks)) if os.path.isdir(tasks) else 'unknown')"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for asked, threads in ((None, 1), ("2", 2)):
        run = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, "OPENBLAS_NUM_THREADS": asked} if asked else env,
        )
        setting, counted = run.stdout.split()
        assert setting == (asked or "1") and counted in (str(threads), "unknown"), run.stderr
