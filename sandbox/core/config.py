"""Layered configuration: defaults < SANDBOX_* environment < run.py flags < a test mapping."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

PACKAGE = Path(__file__).resolve().parent.parent


def _resource_root() -> Path:
    """Where templates/, static/ and seed_data/ are: inside the package when installed from a
    wheel (which carries them), else the repository's top level beside the package."""
    return PACKAGE if (PACKAGE / "templates").is_dir() else PACKAGE.parent


ROOT = _resource_root()

DEFAULTS: dict[str, Any] = {
    "HOST": "127.0.0.1",
    "PORT": 8080,
    "DATABASE_URL": None,  # None: sqlite file in the instance folder
    "SEED": None,  # None: the seed in seed_data/world.toml (42)
    "CUSTOMERS": None,  # generated customers per utility; None: each utility file's count
    "SEED_DATA": str(ROOT / "seed_data"),
    "THREADS": 8,  # request threads of the server (run.py, green-button-sandbox)
    "DEMO_APP": True,  # run.py starts the demo third-party app beside the utilities
    "DEMO_PORT": 8081,
    "RESET": False,
    "AUTO_SEED": True,  # seed an empty database when the app is created
    "PUBLIC_URL": None,  # base URL used in links when there is no request (CLI export)
    "SECRET_KEY": None,  # None: a random key kept in the database
    "ADMIN_KEY": None,  # the control API's key; None: a random one kept with the world (run.py prints it)
    "NOTIFY_ALLOW": None,  # hosts notified even when listening beyond loopback (comma-separated)
    "NOTIFY_RETRY_BASE": 2.0,  # seconds before the first retry of a notification; doubled after each failure
    "NOTIFY_RETRY_CAP": 300.0,  # the longest wait between two attempts
    "NOTIFY_ATTEMPTS": 10,  # attempts before a notification is failed
    "FAULT_HEADER": True,  # a request's X-Sandbox-Fault header may ask for a fault scenario (off for shared use)
    "TESTING": False,  # Flask's testing mode (exceptions reach the test client)
}

def flag(text: str) -> bool:
    """An on/off setting: 1, true, yes, on, or 0, false, no, off (the name says what it is)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


# environment variable -> (key, parser)
ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "SANDBOX_HOST": ("HOST", str),
    "SANDBOX_PORT": ("PORT", int),
    "SANDBOX_DATABASE_URL": ("DATABASE_URL", str),
    "SANDBOX_SEED": ("SEED", int),
    "SANDBOX_CUSTOMERS": ("CUSTOMERS", int),
    "SANDBOX_THREADS": ("THREADS", int),
    "SANDBOX_DEMO_PORT": ("DEMO_PORT", int),
    "SANDBOX_DEMO_APP": ("DEMO_APP", flag),
    "SANDBOX_FAULT_HEADER": ("FAULT_HEADER", flag),
    "SANDBOX_SEED_DATA": ("SEED_DATA", str),
    "SANDBOX_PUBLIC_URL": ("PUBLIC_URL", str),
    "SANDBOX_SECRET_KEY": ("SECRET_KEY", str),
    "SANDBOX_ADMIN_KEY": ("ADMIN_KEY", str),
    "SANDBOX_NOTIFY_ALLOW": ("NOTIFY_ALLOW", str),
    "SANDBOX_NOTIFY_RETRY_BASE": ("NOTIFY_RETRY_BASE", float),
    "SANDBOX_NOTIFY_RETRY_CAP": ("NOTIFY_RETRY_CAP", float),
    "SANDBOX_NOTIFY_ATTEMPTS": ("NOTIFY_ATTEMPTS", int),
}


class ConfigError(ValueError):
    pass




def load_config(*layers: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge the defaults, the environment and then each given layer (later wins; None values skip)."""
    env = os.environ if environ is None else environ
    out = dict(DEFAULTS)
    for var, (key, parse) in ENVIRONMENT.items():
        if var in env and env[var] != "":
            try:
                out[key] = parse(env[var])
            except ValueError:
                raise ConfigError(f"{var}={env[var]!r} is not a valid {parse.__name__}") from None
    for layer in layers:
        for key, value in (layer or {}).items():
            if value is not None:
                out[key] = value
    return out
