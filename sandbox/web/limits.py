"""Abuse limits: failed sign-ins, failed client authentication and open registration, counted with
the `limits` library and refused with 429, Retry-After and a body that names the limit.

ENDPOINTS is the whole policy: which limits guard which view. `init_app` wraps those views once the
blueprints are registered, so no view carries a decorator of its own and no other request pays
anything. Each limit is a config key (environment: SANDBOX_<key>) in the `limits` notation
("50 per 10 minutes;300 per day"; "off" drops it); RATELIMIT off drops them all. A limit counts
the answers its rule names (failures, where its name says so) and is checked before the view runs,
so once it is reached even a correct attempt waits. Windows are fixed and start at the first
counted answer: "50 per 10 minutes" lets at most 50 through in the ten minutes after the first
(concurrent requests may each pass the check before any of them is counted). Counters live in
RATELIMIT_STORAGE: "database" (the default) keeps them in the world's database, shared by every
process serving it (core.rate_counters); or a `limits` storage URL: memory:// is this process,
redis:// or memcached:// (with that client installed) a store of their own.

The lock-out of one login (services.signin: five failures in a row) stays where it is; the layers
here add the client address, the account number (a postal code is a short secret) and the utility
as a whole (spraying a few guesses over many accounts).

Flask-Limiter (which wraps the same library) is not used for this: its app-wide hooks cost every
request about a quarter of a millisecond, and every limit here belongs to one view.

The `limits` library is imported, and the counters made, by the first request a limit judges, not
when the app is built (start-up does not pay for it). The default limits are constants the tests
parse; a limit or storage configured otherwise is checked when the app is built, so a bad one still
stops the start."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, Callable, cast
from urllib.parse import unquote

from flask import Flask, Response, current_app, g, jsonify, render_template, request, url_for

from sandbox.core.config import DEFAULTS, ConfigError
from sandbox.core.db import Database
from sandbox.services.customers import normalise_account_number

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)
DATABASE = "database"  # RATELIMIT_STORAGE: the counters in the world's database (core.rate_counters)
_PLAIN = re.compile(r"[A-Za-z0-9._~@+-]{1,80}")


def _bounded(text: str) -> str:
    """A counter key part from caller text: as typed when short and plain, else its digest (every
    storage takes it, memcached's space-free keys too)."""
    return text if _PLAIN.fullmatch(text) else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# --- whose counter --------------------------------------------------------------------------


def _address() -> str:
    return request.remote_addr or "unknown"  # the client address (ProxyFix sets it behind trusted proxies)


def _utility() -> str:
    return g.slug


def _account_number() -> str:
    return f"{g.slug}/{_bounded(normalise_account_number(request.form.get('account_number', '')))}"


def _signs_in_by_account() -> bool:
    return request.form.get("method") == "account" and bool(request.form.get("account_number", "").strip())


def _client_id() -> str:
    """The client_id a token, revocation or introspection request names: HTTP Basic's user
    (form-encoded, RFC 6749 2.3.1) or the client_id parameter; "" when it names none."""
    try:
        auth = request.authorization
    except ValueError:  # Werkzeug's parser lets b64decode's complaint about non-ASCII text escape
        auth = None
    if auth is not None and auth.type == "basic" and auth.username:
        return unquote(auth.username)
    return request.values.get("client_id", "")


def _per_client() -> str:
    return f"{g.slug}/{_bounded(_client_id())}"


def _names_a_client() -> bool:
    return bool(_client_id())


def _always() -> bool:
    return True


# --- which answers count ----------------------------------------------------------------------


def _failed_sign_in(resp: Response) -> bool:
    """Wrong credentials (401), or an attempt on a login its lock-out refused (the view's 429)."""
    return resp.status_code in (401, 429)


def _failed_client_auth(resp: Response) -> bool:
    if resp.status_code not in (400, 401) or not resp.is_json:
        return False
    body = resp.get_json(silent=True)
    return isinstance(body, dict) and body.get("error") == "invalid_client"


def _registered(resp: Response) -> bool:
    """An application was stored (a refused body stores nothing and costs little)."""
    return resp.status_code == 201


@dataclass(frozen=True)
class Rule:
    name: str  # what a 429 calls it
    setting: str  # its config key (environment: SANDBOX_<setting>)
    counted: str  # what it counts, to finish "Too many ..."
    key: Callable[[], str]  # whose counter a request adds to
    counts: Callable[[Response], bool] | None = None  # the answers that count (None: every request, when it comes)
    applies: Callable[[], bool] = _always  # the requests it judges

    @property
    def scope(self) -> str:
        return self.name.replace(" ", "-")


SIGNIN_PER_ADDRESS = Rule(
    "sign-in failures per address",
    "RATELIMIT_SIGNIN_PER_ADDRESS",
    "failed sign-ins from your network address",
    _address,
    _failed_sign_in,
)
SIGNIN_PER_ACCOUNT_NUMBER = Rule(
    "sign-in failures per account number",
    "RATELIMIT_SIGNIN_PER_ACCOUNT_NUMBER",
    "failed sign-ins with this account number",
    _account_number,
    _failed_sign_in,
    _signs_in_by_account,
)
SIGNIN_ACROSS_ACCOUNTS = Rule(
    "sign-in failures across accounts",
    "RATELIMIT_SIGNIN_ACROSS_ACCOUNTS",
    "failed sign-ins at this utility, all accounts together",
    _utility,
    _failed_sign_in,
)
CLIENT_AUTH_PER_CLIENT = Rule(
    "client authentication failures per client",
    "RATELIMIT_CLIENT_AUTH_PER_CLIENT",
    "failed client authentications for this client_id",
    _per_client,
    _failed_client_auth,
    _names_a_client,
)
CLIENT_AUTH_PER_ADDRESS = Rule(
    "client authentication failures per address",
    "RATELIMIT_CLIENT_AUTH_PER_ADDRESS",
    "failed client authentications from your network address",
    _address,
    _failed_client_auth,
)
REGISTRATION_PER_ADDRESS = Rule(
    "registrations per address",
    "RATELIMIT_REGISTRATION_PER_ADDRESS",
    "applications registered from your network address",
    _address,
    _registered,
)
SIGNUP_PER_ADDRESS = Rule(
    "developer sign-ups per address",
    "RATELIMIT_SIGNUP_PER_ADDRESS",
    "developer sign-ups from your network address",
    _address,
)

RULES = (
    SIGNIN_PER_ADDRESS,
    SIGNIN_PER_ACCOUNT_NUMBER,
    SIGNIN_ACROSS_ACCOUNTS,
    CLIENT_AUTH_PER_CLIENT,
    CLIENT_AUTH_PER_ADDRESS,
    REGISTRATION_PER_ADDRESS,
    SIGNUP_PER_ADDRESS,
)

HTML, JSON = "html", "json"  # how a refusal is written: a page, or an OAuth-style error object

_SIGN_IN = (SIGNIN_PER_ADDRESS, SIGNIN_ACROSS_ACCOUNTS)
_CLIENT_AUTH = (CLIENT_AUTH_PER_CLIENT, CLIENT_AUTH_PER_ADDRESS)

# endpoint -> (refusal format, the limits that guard it, judged in this order within one window length)
ENDPOINTS: dict[str, tuple[str, tuple[Rule, ...]]] = {
    "portal.login": (HTML, (SIGNIN_PER_ACCOUNT_NUMBER, *_SIGN_IN)),  # the OAuth sign-in too (authorize sends here)
    "admin.login": (HTML, _SIGN_IN),
    "developer.login": (HTML, _SIGN_IN),
    "developer.signup": (HTML, (SIGNUP_PER_ADDRESS,)),
    "registration.register": (JSON, (REGISTRATION_PER_ADDRESS,)),
    "oauth.token": (JSON, _CLIENT_AUTH),
    "oauth.revoke": (JSON, _CLIENT_AUTH),
    "oauth.introspect": (JSON, _CLIENT_AUTH),
}


# --- configuration ----------------------------------------------------------------------------


def _setting(cfg: dict, rule: Rule) -> str:
    return str(cfg.get(rule.setting) or "").strip()


def switched_on(cfg: dict, rule: Rule) -> bool:
    return _setting(cfg, rule).lower() not in ("", "off", "none")


def configured(cfg: dict, rule: Rule) -> list[RateLimitItem]:
    """The rule's windows from the configuration (none when it is off); a bad limit is a ConfigError."""
    from limits import parse_many

    value = _setting(cfg, rule)
    if not switched_on(cfg, rule):
        return []
    try:
        return parse_many(value)
    except ValueError:
        raise ConfigError(
            f'SANDBOX_{rule.setting}={value!r} is not a rate limit such as "50 per 10 minutes" '
            'or "20 per hour;50 per day"'
        ) from None


def describe(item: RateLimitItem) -> str:
    """ "50 per 10 minutes", "30 per minute"."""
    unit = item.GRANULARITY.name
    return f"{item.amount} per {unit}" if item.multiples == 1 else f"{item.amount} per {item.multiples} {unit}s"


def _wait_words(seconds: int) -> str:
    return f"{seconds} second{'s' * (seconds != 1)}" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"


# --- the refusal ------------------------------------------------------------------------------


def _refusal(rule: Rule, form: str, item: RateLimitItem, reset_at: float) -> Response:
    """The 429 for a reached limit: Retry-After (seconds until its window ends) and a body that names it."""
    retry = max(1, math.ceil(reset_at - time.time()))
    limit, variable = describe(item), f"SANDBOX_{rule.setting}"
    message = f"Too many {rule.counted}: the limit is {limit}. Try again in {_wait_words(retry)}."
    headers = {"Retry-After": str(retry), "Cache-Control": "no-store"}
    if form == JSON:  # RFC 6749 5.2's members, and which limit
        resp = jsonify(
            error="too_many_requests", error_description=message, limit=rule.name, setting=variable, retry_after=retry
        )
        resp.status_code = 429
        resp.headers.update(headers)
        return resp
    page = render_template(
        "limits/too_many.html",
        message=message,
        rule=rule,
        limit=limit,
        variable=variable,
        home=url_for(f"{request.blueprint}.home"),
    )
    return Response(page, 429, headers)


# --- counting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """An app's limits (rule -> its windows) and the `limits` strategy over their storage."""

    windows: dict[Rule, list[RateLimitItem]]
    limiter: FixedWindowRateLimiter

    @classmethod
    def of(cls, cfg: dict, db: Database) -> Counters:
        """The configured limits over the configured storage ("database": the world's, which every
        process serving it shares); a bad limit or storage URL is a ConfigError."""
        from limits.errors import ConfigurationError
        from limits.storage import Storage, storage_from_string
        from limits.strategies import FixedWindowRateLimiter

        windows = {rule: items for rule in RULES if (items := configured(cfg, rule))}
        uri = str(cfg.get("RATELIMIT_STORAGE") or DATABASE)
        storage: Storage
        if uri == DATABASE:
            from sandbox.core.rate_counters import DatabaseCounters

            storage = DatabaseCounters(db)
        else:
            try:
                storage = cast(Storage, storage_from_string(uri))  # a synchronous storage's URL
            except ConfigurationError as exc:
                raise ConfigError(f"SANDBOX_RATELIMIT_STORAGE={uri!r}: {exc}") from None
        return cls(windows, FixedWindowRateLimiter(storage))


class KeptCounters:
    """An app's Counters, made once, by the first request a limit judges (or at once: `made`)."""

    def __init__(self, cfg: dict, db: Database):
        self._cfg, self._db = cfg, db
        self._made: Counters | None = None
        self._lock = threading.Lock()

    def made(self) -> Counters:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = Counters.of(self._cfg, self._db)
        return self._made

    @property
    def windows(self) -> dict[Rule, list[RateLimitItem]]:
        return self.made().windows

    @property
    def limiter(self) -> FixedWindowRateLimiter:
        return self.made().limiter


def _storage_says(call: Callable[[], bool]) -> bool:
    """A storage call; a store that cannot be reached lets the request through (logged), never a 500."""
    try:
        return call()
    except Exception:
        log.exception("the rate-limit storage failed; this request is not limited")
        return True


def _window_end(limiter: FixedWindowRateLimiter, item: RateLimitItem, ids: tuple[str, ...]) -> float:
    """When the window of a reached limit ends (if the store cannot say: a whole window from now)."""
    try:
        return limiter.get_window_stats(item, *ids).reset_time
    except Exception:
        log.exception("the rate-limit storage failed")
        return time.time() + item.get_expiry()


def guarded(view: Callable, form: str, rules: tuple[Rule, ...], counters: KeptCounters) -> Callable:
    """`view` behind its limits: all are judged before it runs, the shortest window first (a rule
    that counts every request counts it then); those that count answers count it once it answered."""

    @wraps(view)
    def limited(*args, **kwargs):
        made = counters.made()
        limiter = made.limiter
        # a private sandbox's counters are its own, in whatever storage (a Redis several deployments share)
        world: str = current_app.extensions["sandbox"].config.get("SANDBOX_ID") or ""
        judged = sorted(
            (
                (rule, item, (rule.scope, world, rule.key()))
                for rule in rules
                if rule.applies()
                for item in made.windows[rule]
            ),
            key=lambda j: j[1].get_expiry(),
        )
        for rule, item, ids in judged:
            check = limiter.test if rule.counts else limiter.hit
            if not _storage_says(lambda: check(item, *ids)):  # noqa: B023 (called at once)
                return _refusal(rule, form, item, _window_end(limiter, item, ids))
        resp = current_app.make_response(view(*args, **kwargs))
        for rule, item, ids in judged:
            if rule.counts is not None and rule.counts(resp):
                _storage_says(lambda: limiter.hit(item, *ids))  # noqa: B023
        return resp

    return limited


# --- wiring -----------------------------------------------------------------------------------


SETTINGS = ("RATELIMIT_STORAGE", *(rule.setting for rule in RULES))


def init_app(app: Flask) -> None:
    """Wrap the views of ENDPOINTS in their limits (after the blueprints are registered), unless
    RATELIMIT is off. A bad limit or storage URL stops the app from starting (ConfigError): the
    defaults are known good, so only a setting configured otherwise is read now."""
    cfg = app.extensions["sandbox"].config
    if not cfg.get("RATELIMIT", True):
        return
    counters = KeptCounters(cfg, app.extensions["sandbox"].db)
    if any(_differs(cfg.get(key), DEFAULTS[key]) for key in SETTINGS):
        counters.made()
    app.extensions["limits"] = counters
    for endpoint, (form, rules) in ENDPOINTS.items():
        used = tuple(rule for rule in rules if switched_on(cfg, rule))
        if used:
            app.view_functions[endpoint] = guarded(app.view_functions[endpoint], form, used, counters)


def _differs(value: Any, default: Any) -> bool:
    return str(value or "").strip() != str(default or "").strip()
