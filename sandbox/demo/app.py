"""Demo Energy App: a small third party, run beside the utilities by `python run.py`.

It talks to the utilities over HTTP only, as any third party does: the utility directory,
OAuth 2.0 (Authlib's client, with PKCE), ESPI GETs, and the notifications the utilities POST to
it. A visitor (one browser) connects one or more utilities; the app keeps, in memory, each
connection's tokens and the readings it pulled, and shows them as charts with what it learned.
It also analyses an uploaded Download My Data file the same way.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from sandbox.core.config import ROOT
from sandbox.demo import analysis, charts, espi
from sandbox.demo.client import CHOICES, Connection, Refused, Unreachable, Utilities, scope_for
from sandbox.version import __version__

MAX_UPLOAD = espi.MAX_BYTES
CHECK_EVERY = 2.0  # seconds: the dashboard asks the utility again whether access still works
PAGE_POLICY = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Linked:
    """A connection and what the app has read through it."""

    connection: Connection
    usage: espi.Usage = field(default_factory=espi.Usage)
    pulled_at: float = 0.0
    checked_at: float = 0.0
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one refresh, one merge at a time
    pending: set[str] = field(default_factory=set, repr=False)  # notified URIs waiting to be read


class Store:
    """Every visitor's connections, by visitor id and utility slug (in memory: a demo)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.visitors: dict[str, dict[str, Linked]] = {}

    def of(self, visitor: str) -> dict[str, Linked]:
        with self.lock:
            return self.visitors.setdefault(visitor, {})

    def subscribed(self, resource: str) -> list[Linked]:
        """The connections whose data lives at `resource` (a notified URI without its query): their
        subscription, or a part of it (an asynchronous batch names each usage point's)."""
        with self.lock:
            return [
                ln
                for links in self.visitors.values()
                for ln in links.values()
                if _within(resource, ln.connection.resource_uri.split("?")[0])
            ]


def _within(resource: str, subscription: str) -> bool:
    return resource == subscription or resource.startswith(subscription + "/")


def create_demo_app(
    sandbox_url: str,
    client_id: str = "demo-third-party",
    client_secret: str = "demo-secret",
    secret_key: str | None = None,
    max_upload: int = MAX_UPLOAD,
) -> Flask:
    """The demo app for the utilities of the sandbox at `sandbox_url` (its own callback is
    `<its address>/callback`, a loopback URI the demo registration accepts on any port)."""
    app = Flask("sandbox.demo", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=max_upload,
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_NAME="demo_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )

    csrf = CSRFProtect(app)
    utilities = Utilities(sandbox_url, client_id, client_secret)
    store = Store()
    pulls = ThreadPoolExecutor(2, thread_name_prefix="demo-pull")
    app.extensions["demo"] = {"store": store, "utilities": utilities, "pulls": pulls}

    def visitor() -> str:
        if "visitor" not in session:
            session["visitor"] = secrets.token_urlsafe(16)
        return session["visitor"]

    def callback_uri() -> str:
        return url_for("callback", _external=True)

    def pull(linked: Linked, uri: str | None = None) -> None:
        """Read the connection's data (or the notified `uri`) and keep it; an ended access is said why."""
        c = linked.connection
        with linked.lock:
            try:
                data = utilities.get(c, uri or c.resource_uri)
                espi.merge(linked.usage, espi.parse_usage(data))
                linked.pulled_at, linked.error = time.time(), None
            except Refused as exc:
                if exc.ended:
                    c.ended = exc.message
                else:
                    linked.error = exc.message
            except espi.NotGreenButton as exc:
                linked.error = f"{c.name} sent data this app cannot read: {exc}"
            except Unreachable as exc:
                linked.error = f"{c.name} did not answer: {exc}"

    def check(linked: Linked) -> None:
        with linked.lock:
            try:
                utilities.check(linked.connection)
            except Refused as exc:
                if exc.ended:
                    linked.connection.ended = exc.message
                else:
                    linked.error = exc.message
            except Unreachable as exc:
                linked.error = f"{linked.connection.name} did not answer: {exc}"
            linked.checked_at = time.time()

    @app.context_processor
    def _globals():
        return {"version": __version__}

    @app.after_request
    def _security_headers(resp):
        """The sandbox's header policy (sandbox.web.security), written here: the demo uses none of its modules.
        Its callback page's URL holds the code, so no Referer goes to other sites."""
        resp.headers["X-Content-Type-Options"] = "nosniff"
        if resp.mimetype == "text/html":
            resp.headers.update(PAGE_POLICY)
        return resp

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", app="demo-third-party", version=__version__)

    @app.get("/")
    def hello():
        code = (request.args.get("postal_code") or "").strip()
        try:
            found = utilities.directory(code or None)
        except Exception as exc:  # noqa: BLE001  (the utilities may be down: say so, plainly)
            return render_template(
                "demo/hello.html",
                utilities=[],
                code=code,
                links=store.of(visitor()),
                error=f"The utility directory did not answer: {exc}",
            ), 502
        return render_template("demo/hello.html", utilities=found, code=code, links=store.of(visitor()), error=None)

    @app.get("/connect/<slug>")
    def choose(slug: str):
        u = utilities.utility(slug) or abort(404)
        return render_template("demo/connect.html", utility=u, choices=_choices(u))

    @app.post("/connect/<slug>")
    def connect(slug: str):
        u = utilities.utility(slug) or abort(404)
        wanted = {k for k in CHOICES if request.form.get(k) == "1"}
        try:
            offered = utilities.offered_scopes(slug)
        except Unreachable as exc:
            return render_template("demo/problem.html", title=f"{u['name']} did not answer", message=str(exc)), 502
        scope = scope_for(offered, wanted, request.form.get("customer") == "1")
        url, state, verifier = utilities.authorization_url(u, scope, callback_uri())
        session["pending"] = {"slug": slug, "state": state, "verifier": verifier, "scope": scope}
        return redirect(url, 303)

    @app.get("/callback")
    def callback():
        pending = session.pop("pending", None)
        if pending is None or request.args.get("state") != pending["state"]:
            return render_template(
                "demo/problem.html",
                title="That sign-in link has expired",
                message="Start again from the list of utilities.",
            ), 400
        u = utilities.utility(pending["slug"]) or abort(404)
        if request.args.get("error"):
            denied = request.args["error"] == "access_denied"
            return render_template(
                "demo/problem.html",
                denied=denied,
                utility=u,
                title="Nothing was shared" if denied else f"{u['name']} said no",
                message=(
                    f"You chose not to share your data from {u['name']}. You can connect whenever you like."
                    if denied
                    else request.args.get("error_description") or request.args["error"]
                ),
            ), 200 if denied else 400
        try:
            c = utilities.exchange(
                u, callback_uri(), request.url, pending["state"], pending["verifier"], pending["scope"]
            )
        except Refused as exc:
            return render_template(
                "demo/problem.html", title=f"{u['name']} did not give this app access", message=exc.message
            ), 400
        except Unreachable as exc:
            return render_template(
                "demo/problem.html",
                title=f"{u['name']} did not answer",
                message=f"The code could not be exchanged: {exc}. Connect again.",
            ), 502
        linked = Linked(c)
        pull(linked)  # the first read, before the page: the customer sees their data at once
        store.of(visitor())[c.slug] = linked
        return redirect(url_for("dashboard"), 303)

    @app.get("/dashboard")
    def dashboard():
        links = store.of(visitor())
        if not links:
            return redirect(url_for("hello"))
        for linked in links.values():  # is access still there? (a revocation is learned by asking)
            if not linked.connection.ended and time.time() - max(linked.checked_at, linked.pulled_at) > CHECK_EVERY:
                check(linked)
        views = []
        for ln in list(links.values()):
            with ln.lock:  # not while a background read merges into it
                views.append((ln, analysis.analyse(ln.usage, ln.connection.time_zone)))
        return render_template("demo/dashboard.html", views=views, chart=_charts)

    @app.get("/computed.json")
    def computed():
        """What this app computed from each connection's readings, per usage point and local day from
        `first` to `last` (YYYY-MM-DD): the figures a conformance run's ground-truth check compares."""
        try:
            first, last = dt.date.fromisoformat(request.args["first"]), dt.date.fromisoformat(request.args["last"])
        except (KeyError, ValueError):
            return jsonify(error="invalid_request", error_description="first and last: days as YYYY-MM-DD"), 400
        found = []
        for ln in list(store.of(visitor()).values()):
            with ln.lock:
                found += analysis.daily_totals(ln.usage, ln.connection.time_zone, first, last)
        return jsonify(usage_points=found)

    @app.post("/refresh/<slug>")
    def refresh(slug: str):
        linked = store.of(visitor()).get(slug) or abort(404)
        if not linked.connection.ended:
            pull(linked)
        return redirect(url_for("dashboard"), 303)

    @app.post("/forget/<slug>")
    def forget(slug: str):
        store.of(visitor()).pop(slug, None)
        flash("Forgotten: this app keeps nothing of that utility now.", "info")
        return redirect(url_for("hello"), 303)

    @csrf.exempt
    @app.post("/notify")
    def notify():
        """A utility's BatchList: answered at once, the URIs it names read in the background."""
        try:
            uris = espi.batch_list_uris(request.get_data())
        except espi.NotGreenButton as exc:
            return jsonify(error="invalid_request", error_description=str(exc)), 400
        for uri in dict.fromkeys(uris):  # each URI once, and once per connection until it has been read
            for linked in store.subscribed(uri.split("?")[0]):
                with store.lock:
                    if uri in linked.pending:
                        continue
                    linked.pending.add(uri)
                pulls.submit(_pull_notified, linked, uri)
        return jsonify(received=len(uris))

    def _pull_notified(linked: Linked, uri: str) -> None:
        before = sum(len(s.readings) for s in linked.usage.streams)
        try:
            pull(linked, uri)
        finally:
            with store.lock:
                linked.pending.discard(uri)
        added = sum(len(s.readings) for s in linked.usage.streams) - before
        with store.lock:
            linked.connection.updates.append(
                f"{_arrived()}: {linked.connection.name} sent word of new "
                f"data{_days(uri, linked.connection.time_zone)}; this app read it: "
                f"{added} new readings"
            )

    @app.route("/upload", methods=["GET", "POST"])
    def upload():
        if request.method == "GET":
            return render_template("demo/upload.html", result=None, error=None)
        f = request.files.get("file")
        if f is None or not f.filename:
            return render_template("demo/upload.html", result=None, error="Choose a Green Button file (.xml)."), 400
        data = f.read()
        if _looks_like_csv(f.filename, data):
            return render_template(
                "demo/upload.html",
                result=None,
                error=f"{f.filename} is a spreadsheet (CSV), not a Green Button file. This app reads Green Button "
                "XML: in the utility's Download My Data, choose the format “Green Button (.xml)” and upload that file.",
            ), 400
        try:
            result = analysis.analyse(espi.parse_usage(data))
        except espi.NotGreenButton as exc:
            return render_template("demo/upload.html", result=None, error=f"{f.filename}: {exc}"), 400
        except (ValueError, ArithmeticError) as exc:  # numbers no Green Button file holds
            return render_template(
                "demo/upload.html",
                result=None,
                error=f"{f.filename}: this app cannot read it ({type(exc).__name__}: {exc})",
            ), 400
        return render_template("demo/upload.html", result=result, name=f.filename, error=None, chart=_charts)

    @app.errorhandler(Unreachable)
    def utilities_down(exc):
        return render_template(
            "demo/problem.html", title="The utility did not answer", message=f"{exc}. Try again in a moment."
        ), 502

    def problem_page(exc: HTTPException):
        title, message = PROBLEMS[exc.code or 500]
        return render_template("demo/problem.html", title=title, message=message), exc.code

    for code in PROBLEMS:
        app.register_error_handler(code, problem_page)

    @app.errorhandler(413)
    def too_big(_exc):
        limit = app.config["MAX_CONTENT_LENGTH"]
        return render_template(
            "demo/upload.html",
            result=None,
            error=f"The file is larger than this app takes ({limit / (1024 * 1024):g} MB).",
        ), 413

    return app


# the pages an HTTP error gets (the app's own style, never Werkzeug's bare page)
PROBLEMS = {
    400: ("That could not be read", "The form had expired or was incomplete. Go back, reload the page and try again."),
    404: ("No such page", "Nothing lives at this address of Demo Energy App. Start again from the list of utilities."),
    405: ("Not that way", "This page does not take that kind of request. Start again from the list of utilities."),
    500: ("Something broke", "Demo Energy App failed on this request. Try again; the server's log says why."),
}


def _arrived() -> str:
    """Now, as an update's arrival is shown: date, time and this app's time zone."""
    return dt.datetime.now().astimezone().strftime("%d %b %Y, %H:%M:%S %Z")


def _looks_like_csv(filename: str, data: bytes) -> bool:
    """A spreadsheet export (the portal's CSV download, say) rather than XML: named .csv, or a first
    line of comma-separated words with no markup."""
    first = data.lstrip(b"\xef\xbb\xbf \r\n\t")[:200].split(b"\n", 1)[0]
    return filename.lower().endswith(".csv") or (b"," in first and not first.startswith(b"<"))


def _days(uri: str, time_zone: str) -> str:
    """The local days a notified URI's published-min and published-max bound, in words ("" if unbounded)."""
    q = parse_qs(urlsplit(uri).query)
    try:
        low, high = (
            dt.datetime.fromisoformat(q[k][0].replace("Z", "+00:00")).astimezone(ZoneInfo(time_zone))
            for k in ("published-min", "published-max")
        )
    except (KeyError, ValueError):
        return ""
    last = (high - dt.timedelta(seconds=1)).date()
    return f" for {low:%d %b %Y}" if last == low.date() else f" for {low:%d %b %Y} to {last:%d %b %Y}"


def _choices(u: dict) -> list[tuple[str, str]]:
    """What the customer may ask for at this utility (gas and water only where it serves them)."""
    return [
        (k, label) for k, (label, _) in CHOICES.items() if k not in ("gas", "water") or k in u.get("commodities", [])
    ]


def _month(text: str, first: bool) -> str:
    """A chart's month label: "Mar", with the year on January and on the first bar ("Jan '26")."""
    day = dt.date(int(text[:4]), int(text[5:7]), 1)
    return day.strftime("%b '%y" if first or day.month == 1 else "%b")


def _charts(a: analysis.Analysis) -> dict:
    months = [(_month(m, i == 0), kwh) for i, (m, kwh, _) in enumerate(a.months[-13:])]
    exported = [out for _, _, out in a.months[-13:]]
    billed = a.month_bills[-13:] or a.month_costs[-13:]  # the bills when the utility shared them
    return {
        "monthly": charts.bars(
            months,
            "kWh",
            "Electricity used each month",
            exported if any(exported) else None,
            "sent to the grid (solar)",
            first_label="taken from the grid",
        ),
        "daily": charts.bars([(f"{d:%d %b}", v) for d, v in a.days], "kWh", "Electricity used each day", every=10),
        "costs": charts.bars(
            [(_month(m, i == 0), c) for i, (m, c) in enumerate(billed)],
            a.currency,
            "What each month's bills came to" if a.month_bills else "Energy charges each month",
        ),
    }
