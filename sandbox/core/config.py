"""Layered configuration: defaults < SANDBOX_* environment < run.py flags < a test mapping."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from sandbox.core.errors import ConfigError

PACKAGE = Path(__file__).resolve().parent.parent


def _resource_root() -> Path:
    """Where templates/, static/ and seed_data/ are: inside the package when installed from a
    wheel (which carries them), else the repository's top level beside the package."""
    return PACKAGE if (PACKAGE / "templates").is_dir() else PACKAGE.parent


ROOT = _resource_root()

SERVERS = ("granian", "waitress")  # run.py's servers (sandbox.serving)

DEFAULTS: dict[str, Any] = {
    "HOST": "127.0.0.1",
    "PORT": 8080,
    "DATABASE_URL": None,  # None: sqlite file in the instance folder
    "SEED": None,  # None: the seed in seed_data/world.toml (42)
    "CUSTOMERS": None,  # generated customers per utility; None: each utility file's count
    "SEED_DATA": str(ROOT / "seed_data"),
    "SERVER": "granian",  # run.py's server: granian (worker processes) or waitress (one process of threads)
    "WORKERS": None,  # granian's worker processes; None: one per CPU, 2 to 4
    "THREADS": 8,  # request threads of each server process (run.py, green-button-sandbox)
    "CONNECTION_LIMIT": 400,  # open connections run.py's server keeps at once (each server: the demo app's too)
    "IDLE_TIMEOUT": 30,  # seconds before run.py's server closes a connection that sends nothing and awaits nothing
    "SLOW_FAULT_MAX": 30.0,  # the longest delay the `slow` fault scenario makes, in seconds
    "SLOW_FAULT_CALLS": None,  # calls a process delays at once for the `slow` fault (None: half of THREADS, >= 1)
    "DEMO_APP": True,  # run.py starts the demo third-party app beside the utilities
    "SANDBOX_ID": None,  # a private sandbox's id (web.private builds its app); None: the default sandbox
    "MAX_SANDBOXES": 100,  # private sandboxes a deployment keeps live at once
    "OPEN_SIGNUP": False,  # anyone may make a private sandbox, without the operator key
    # each private sandbox's quotas (services.quotas; 0: none)
    "QUOTA_CUSTOMERS": 2000,
    "QUOTA_APPLICATIONS": 100,
    "QUOTA_OUTBOX": 1000,
    "QUOTA_IMPORTED_READINGS": 2_000_000,  # about 40 bytes each in the database
    "QUOTA_REQUESTS_PER_MINUTE": 0,  # off: each counted call writes to the deployment's database (README)
    "DEMO_PORT": 8081,
    "RESET": False,
    "AUTO_SEED": True,  # seed an empty database when the app is created
    "WORLD_CACHE": None,  # folder of seeded-world templates (None: the user's cache folder; "off": none)
    "PUBLIC_URL": None,  # the address users reach: the base of every URL written without a request (notifications)
    "ALLOWED_HOSTS": "",  # host names answered besides loopback, the listening host and PUBLIC_URL's ("*": any)
    "PROXY_HOPS": 0,  # reverse proxies in front whose X-Forwarded-* headers are believed
    "SECRET_KEY": None,  # None: a random key kept in the database
    "ADMIN_KEY": None,  # the control API's key; None: a random one kept with the world (run.py prints it)
    "NOTIFY_ALLOW": None,  # hosts notified even when listening beyond loopback (comma-separated)
    "NOTIFY_RETRY_BASE": 2.0,  # seconds before the first retry of a notification; doubled after each failure
    "NOTIFY_RETRY_CAP": 300.0,  # the longest wait between two attempts
    "NOTIFY_ATTEMPTS": 10,  # attempts before a notification is failed
    "FAULT_HEADER": True,  # a request's X-Sandbox-Fault header may ask for a fault scenario (off for shared use)
    # abuse limits (sandbox/web/limits.py): `limits` notation ("50 per 10 minutes;300 per day"); "off" drops one
    "RATELIMIT": True,  # every limit below on or off
    "RATELIMIT_STORAGE": "database",  # where counters live: the world's database (every process), memory://, redis://...
    "RATELIMIT_SIGNIN_PER_ADDRESS": "50 per 10 minutes",  # failed sign-ins from one client address
    "RATELIMIT_SIGNIN_PER_ACCOUNT_NUMBER": "20 per hour;50 per day",  # failed sign-ins with one account number
    "RATELIMIT_SIGNIN_ACROSS_ACCOUNTS": "200 per 10 minutes",  # failed sign-ins at one utility, any account or address
    "RATELIMIT_CLIENT_AUTH_PER_CLIENT": "300 per 10 minutes",  # failed client authentications for one client_id
    "RATELIMIT_CLIENT_AUTH_PER_ADDRESS": "2000 per 10 minutes",  # failed client authentications from one address
    "RATELIMIT_REGISTRATION_PER_ADDRESS": "200 per hour",  # applications the open registration API made, per address
    "RATELIMIT_SIGNUP_PER_ADDRESS": "100 per hour",  # developer sign-up requests from one address
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
    "SANDBOX_SERVER": ("SERVER", str),
    "SANDBOX_WORKERS": ("WORKERS", int),
    "SANDBOX_THREADS": ("THREADS", int),
    "SANDBOX_CONNECTION_LIMIT": ("CONNECTION_LIMIT", int),
    "SANDBOX_IDLE_TIMEOUT": ("IDLE_TIMEOUT", int),
    "SANDBOX_SLOW_FAULT_MAX": ("SLOW_FAULT_MAX", float),
    "SANDBOX_SLOW_FAULT_CALLS": ("SLOW_FAULT_CALLS", int),
    "SANDBOX_DEMO_PORT": ("DEMO_PORT", int),
    "SANDBOX_DEMO_APP": ("DEMO_APP", flag),
    "SANDBOX_FAULT_HEADER": ("FAULT_HEADER", flag),
    "SANDBOX_MAX_SANDBOXES": ("MAX_SANDBOXES", int),
    "SANDBOX_OPEN_SIGNUP": ("OPEN_SIGNUP", flag),
    "SANDBOX_QUOTA_CUSTOMERS": ("QUOTA_CUSTOMERS", int),
    "SANDBOX_QUOTA_APPLICATIONS": ("QUOTA_APPLICATIONS", int),
    "SANDBOX_QUOTA_OUTBOX": ("QUOTA_OUTBOX", int),
    "SANDBOX_QUOTA_IMPORTED_READINGS": ("QUOTA_IMPORTED_READINGS", int),
    "SANDBOX_QUOTA_REQUESTS_PER_MINUTE": ("QUOTA_REQUESTS_PER_MINUTE", int),
    "SANDBOX_RATELIMIT": ("RATELIMIT", flag),
    "SANDBOX_RATELIMIT_STORAGE": ("RATELIMIT_STORAGE", str),
    "SANDBOX_RATELIMIT_SIGNIN_PER_ADDRESS": ("RATELIMIT_SIGNIN_PER_ADDRESS", str),
    "SANDBOX_RATELIMIT_SIGNIN_PER_ACCOUNT_NUMBER": ("RATELIMIT_SIGNIN_PER_ACCOUNT_NUMBER", str),
    "SANDBOX_RATELIMIT_SIGNIN_ACROSS_ACCOUNTS": ("RATELIMIT_SIGNIN_ACROSS_ACCOUNTS", str),
    "SANDBOX_RATELIMIT_CLIENT_AUTH_PER_CLIENT": ("RATELIMIT_CLIENT_AUTH_PER_CLIENT", str),
    "SANDBOX_RATELIMIT_CLIENT_AUTH_PER_ADDRESS": ("RATELIMIT_CLIENT_AUTH_PER_ADDRESS", str),
    "SANDBOX_RATELIMIT_REGISTRATION_PER_ADDRESS": ("RATELIMIT_REGISTRATION_PER_ADDRESS", str),
    "SANDBOX_RATELIMIT_SIGNUP_PER_ADDRESS": ("RATELIMIT_SIGNUP_PER_ADDRESS", str),
    "SANDBOX_SEED_DATA": ("SEED_DATA", str),
    "SANDBOX_WORLD_CACHE": ("WORLD_CACHE", str),
    "SANDBOX_PUBLIC_URL": ("PUBLIC_URL", str),
    "SANDBOX_ALLOWED_HOSTS": ("ALLOWED_HOSTS", str),
    "SANDBOX_PROXY_HOPS": ("PROXY_HOPS", int),
    "SANDBOX_SECRET_KEY": ("SECRET_KEY", str),
    "SANDBOX_ADMIN_KEY": ("ADMIN_KEY", str),
    "SANDBOX_NOTIFY_ALLOW": ("NOTIFY_ALLOW", str),
    "SANDBOX_NOTIFY_RETRY_BASE": ("NOTIFY_RETRY_BASE", float),
    "SANDBOX_NOTIFY_RETRY_CAP": ("NOTIFY_RETRY_CAP", float),
    "SANDBOX_NOTIFY_ATTEMPTS": ("NOTIFY_ATTEMPTS", int),
}


def is_wildcard(host: str) -> bool:
    """Does listening on `host` mean every interface (so it names no address to be reached at)?"""
    return host in ("", "0.0.0.0", "::", "[::]")


def public_url(value: str) -> str:
    """The public URL, normalised to end with one slash: the base of the URLs a sandbox writes."""
    parts = urlsplit(value)
    problem = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "is not an http:// or https:// URL with a host"
    elif parts.query or parts.fragment:
        problem = "has a query or fragment; give the base URL only"
    else:
        try:
            parts.port  # noqa: B018 (a port out of range raises)
        except ValueError:
            problem = "has an invalid port"
    if problem:
        raise ConfigError(f"the public URL (--public-url, SANDBOX_PUBLIC_URL) {value!r} {problem}")
    return value.rstrip("/") + "/"


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
    if out["PUBLIC_URL"]:
        out["PUBLIC_URL"] = public_url(out["PUBLIC_URL"])
    if out["SERVER"] not in SERVERS:
        raise ConfigError(
            f"the server (--server, SANDBOX_SERVER) must be one of {', '.join(SERVERS)}, not {out['SERVER']!r}"
        )
    if not 0 <= int(out["PROXY_HOPS"]) <= 10:
        raise ConfigError(f"the proxy hops (--proxy-hops, SANDBOX_PROXY_HOPS) must be 0 to 10, not {out['PROXY_HOPS']}")
    return out
