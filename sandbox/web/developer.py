"""The utility's developer portal at /dc/<slug>/developer/: third-party developers sign up and
sign in (a session of their own, apart from customers and staff), register applications,
see each application's onboarding checklist, client_id and (once) its secret, rotate the
secret, read and accept the terms, upload the certificate, test their notification
endpoint, and find the utility's endpoints.

Views parse the request, call `onboarding` and render; every form carries a CSRF token.
"""

from __future__ import annotations

import re
from functools import wraps

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from sandbox.core import errors
from sandbox.espi import urls
from sandbox.espi.scopes import plain_words
from sandbox.services import access, onboarding, request_log, signin, third_parties, world
from sandbox.services import faults as fault_catalogue
from sandbox.services.conformance import runs as conformance_runs
from sandbox.services.notifications import delivery, outbox
from sandbox.services.world import describe
from sandbox.web import context
from sandbox.web.context import client_secrets, sandbox
from sandbox.web.utility import lock_message, locked_out, sign_out, upload_limit, utility_blueprint

bp = utility_blueprint("developer", __name__, "/dc/<slug>/developer")
ROLE = context.DEVELOPER
REQUEST_LOG_ROWS = 50  # the latest calls shown on an application's page
CONFORMANCE_ROWS = 5  # the application's latest conformance runs, on its page
NOTIFICATION_ROWS = 20  # the latest notifications shown there
EVENT_LABELS = {
    outbox.PUBLISHED: "New data published",
    outbox.UPLOADED: "Data uploaded",
    outbox.AUTHORIZED: "Authorized by a customer",
    outbox.BATCH_READY: "Asynchronous batch ready",
}


def _schedule_text(schedule: outbox.Schedule) -> str:
    waits: list[str] = []
    for failures in range(1, schedule.attempts):
        wait = schedule.delay(failures)
        if wait is None or len(waits) == 4:
            break
        waits.append(f"{wait:g}")
    spelled = (
        f"after {', '.join(waits)}{' …' if schedule.attempts > len(waits) + 1 else ''} seconds" if waits else "no more"
    )
    return (
        f"{spelled} (doubling, at most {schedule.cap:g} s apart), {schedule.attempts} attempts in all, "
        "then it is failed; Send again tries once more"
    )


UPLOAD_OVERHEAD = 16 * 1024  # multipart headers and the other form fields around the certificate


MATRIX_ROWS = access.matrix_rows()  # the token matrix as the developer pages show it


def _own_clients() -> dict[str, tuple[str, str]]:
    """The utility's own clients by role: (client_id, secret), a private sandbox's secrets its own."""
    secrets = client_secrets()
    return {role.value: (client_id, secrets[client_id]) for client_id, _, role, _ in world.OWN_CLIENTS}


@bp.context_processor
def _developer_globals():
    return {
        "developer": g.get("developer"),
        "status_labels": access.STATUS_LABELS,
        "matrix": MATRIX_ROWS,
        "own_clients": _own_clients(),
    }


@bp.app_template_filter("terms_html")
def _terms_html(text: str) -> Markup:
    """The terms' small Markdown subset: '# ' headings, numbered lists (indented continuation
    lines), paragraphs. Everything else is escaped text."""
    out: list[str] = []
    para: list[str] = []
    items: list[list[str]] = []

    def flush_para():
        if para:
            out.append(f"<p>{escape(' '.join(para))}</p>")
            para.clear()

    def flush_list():
        if items:
            out.append("<ol>" + "".join(f"<li>{escape(' '.join(i))}</li>" for i in items) + "</ol>")
            items.clear()

    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"^(\d+)\.\s+(.*)$", line)
        if not line:
            flush_para()
            flush_list()
        elif line.startswith("#"):
            flush_para()
            flush_list()
            level = min(6, 1 + len(line) - len(line.lstrip("#")))
            out.append(f"<h{level}>{escape(line.lstrip('#').strip())}</h{level}>")
        elif m:
            flush_para()
            items.append([m.group(2)])
        elif items and raw[:1].isspace():
            items[-1].append(line)
        else:
            flush_list()
            para.append(line)
    flush_para()
    flush_list()
    return Markup("\n".join(out))


# --- who is signed in ---------------------------------------------------------------------


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        g.developer = context.current_developer()
        if g.developer is None:
            flash("Please sign in to the developer portal first.", "error")
            return redirect(url_for("developer.home"))
        return view(*args, **kwargs)

    return wrapper


def _offered() -> list[str]:
    return world.offered_scopes(g.utility)


def _connect_info(app=None) -> dict:
    """The utility's endpoints for the "how to connect" box."""
    info = describe(g.utility, request.url_root)
    ep = urls.endpoints(request.url_root, g.slug)
    info["registration_endpoint"] = ep.register
    info["service_status"] = urls.href(ep.resource, "ReadServiceStatus")
    info["bulk"] = ep.bulk
    if app is not None:
        info["registration_client_uri"] = urls.href(ep.resource, "ApplicationInformation", application_id=app.uuid)
    return info


# --- sign-up, sign-in ---------------------------------------------------------------------


def _landing(error: str | None = None, status: int = 200, form: str = "login", **fields) -> Response:
    return Response(
        render_template(
            "developer/landing.html",
            error=error,
            form=form,
            fields=fields,
            connect=_connect_info(),
            min_password=onboarding.MIN_PASSWORD,
            max_failures=signin.MAX_FAILURES,
            lockout_minutes=int(signin.LOCKOUT.total_seconds() // 60),
        ),
        status,
    )


@bp.get("/")
def home():
    g.developer = context.current_developer()
    if g.developer is None:
        return _landing()
    with sandbox().db.sessions() as s:
        apps = onboarding.developer_applications(s, g.utility_id, g.developer.id)
        return render_template("developer/apps.html", apps=apps, connect=_connect_info(), nav="apps")


@bp.post("/signup")
def signup():
    sb = sandbox()
    name, email, password = (request.form.get(k, "") for k in ("name", "email", "password"))
    try:
        dev = onboarding.sign_up(sb.db, sb.clock, g.utility_id, name, email, password)
    except errors.Refused as exc:
        return _landing(exc.message, 400, "signup", name=name, email=email)
    context.sign_in(ROLE, dev.id)
    flash(f"Welcome, {dev.name}. Register your first application.", "info")
    return redirect(url_for("developer.home"), 303)


@bp.post("/login")
def login():
    sb = sandbox()
    email, password = request.form.get("email", ""), request.form.get("password", "")
    if not email.strip() or not password:
        return _landing("Enter your e-mail address and your password.", 400, "login", email=email)
    result = signin.developer_login(sb.db, sb.clock, g.utility_id, email, password)
    if result.locked:
        return locked_out(_landing(lock_message(result), 429, "login", email=email), result.locked_until)
    if not result.ok:
        return _landing(result.error, 401, "login", email=email)
    context.sign_in(ROLE, result.developer_id)
    return redirect(url_for("developer.home"), 303)


@bp.post("/logout")
def logout():
    return sign_out(ROLE, "You are signed out of the developer portal.", "developer.home")


# --- registering and editing an application -------------------------------------------------


def _form_metadata() -> dict:
    """The registration form's values under Metadata's keys: redirect URIs one a line, scopes ticked."""
    f, names = request.form, onboarding.FORM_FIELDS
    values: dict[str, str | list[str]] = {key: f.get(field, "") for key, field in names.items()}
    values["redirect_uris"] = [line.strip() for line in f.get(names["redirect_uris"], "").splitlines() if line.strip()]
    values["scopes"] = f.getlist(names["scopes"])
    return values


def _form_page(values: dict, app=None, error: str | None = None, error_field: str | None = None, status: int = 200):
    return render_template(
        "developer/app_form.html",
        values=values,
        app=app,
        error=error,
        error_field=error_field,
        offered=onboarding.offered_scopes(_offered()),
        nav="new" if app is None else "apps",
    ), status


def _validate(values: dict) -> onboarding.Metadata:
    return onboarding.validate_metadata(
        values, _offered(), utility_name=g.utility.name, strict=g.utility.profile.behaviour.strict_scopes
    )


@bp.get("/apps/new")
@login_required
def new_app():
    return _form_page({"contact_email": g.developer.email, "scopes": _offered()[:1], "redirect_uris": []})


@bp.post("/apps/new")
@login_required
def register_app():
    sb = sandbox()
    values = _form_metadata()
    try:
        meta = _validate(values)
        issued = onboarding.register(
            sb.db, sb.clock, g.utility_id, sb.require_world().seed, meta, developer_id=g.developer.id
        )
    except errors.Refused as exc:
        return _form_page(values, error=exc.message, error_field=exc.field, status=400)
    return _app_page(issued.app.id, status=201, revealed=issued.client_secret, created=True)


@bp.get("/apps/<int:app_id>/edit")
@login_required
def edit_app(app_id: int):
    with sandbox().db.sessions() as s:
        app = _own(s, app_id)
        return _form_page({key: getattr(app, key) for key in onboarding.FORM_FIELDS}, app=app)


@bp.post("/apps/<int:app_id>/edit")
@login_required
def update_app(app_id: int):
    sb = sandbox()
    values = _form_metadata()
    with sb.db.sessions() as s:
        app = _own(s, app_id)
    try:
        meta = _validate(values)
        onboarding.update(sb.db, sb.clock, g.utility_id, app_id, meta, g.utility.profile, developer_id=g.developer.id)
    except errors.NotFound:
        abort(404, description="No such application of yours at this utility.")
    except errors.Refused as exc:
        return _form_page(values, app=app, error=exc.message, error_field=exc.field, status=400)
    flash("Registration updated.", "info")
    return redirect(url_for("developer.show_app", app_id=app_id), 303)


# --- one application ------------------------------------------------------------------------


def _own(s, app_id: int):
    try:
        return onboarding.application(s, g.utility_id, app_id, g.developer.id)
    except errors.NotFound:
        abort(404, description="No such application of yours at this utility.")


def _app_page(
    app_id: int, status: int = 200, revealed: str | None = None, error: str | None = None, created: bool = False
):
    sb = sandbox()
    with sb.db.sessions() as s:
        app = _own(s, app_id)
        profile = g.utility.profile
        checks = onboarding.checklist(app, profile, now=sb.clock.now())
        html = render_template(
            "developer/app.html",
            app=app,
            checks=checks,
            done=sum(c.done for c in checks),
            revealed=revealed,
            created=created,
            error=error,
            profile=profile,
            connect=_connect_info(app),
            scopes=[
                {"scope": sc, "title": onboarding.scope_title(sc), "meaning": plain_words(sc)} for sc in app.scopes
            ],
            terms_current=app.terms_version == profile.terms_version and app.terms_accepted_at is not None,
            max_certificate_kb=onboarding.MAX_CERTIFICATE_BYTES // 1024,
            nav="apps",
            calls=request_log.recent(
                context.request_log(), g.utility_id, application_id=app.id, limit=REQUEST_LOG_ROWS
            ),
            notifications=outbox.listing(sb.db, g.utility_id, application_id=app.id, limit=NOTIFICATION_ROWS),
            event_labels=EVENT_LABELS,
            schedule_text=_schedule_text(context.notifier().schedule),
            scenarios=fault_catalogue.SCENARIOS,
            header_faults=sb.config["FAULT_HEADER"],
            profiles=sorted(sb.require_world().profiles.values(), key=lambda b: b.name),
            conformance_runs=conformance_runs.of_application(sb.db, app.id, limit=CONFORMANCE_ROWS),
            resource_path=urls.resource_root("", g.slug),
        )
    resp = Response(html, status)
    if revealed:
        resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/apps/<int:app_id>")
@login_required
def show_app(app_id: int):
    return _app_page(app_id)


@bp.post("/apps/<int:app_id>/rotate")
@login_required
def rotate(app_id: int):
    try:
        secret = onboarding.rotate_secret(sandbox().db, g.utility_id, app_id, developer_id=g.developer.id)
    except errors.NotFound:
        abort(404, description="No such application of yours at this utility.")
    return _app_page(app_id, revealed=secret)


@bp.get("/apps/<int:app_id>/terms")
@login_required
def terms(app_id: int):
    with sandbox().db.sessions() as s:
        app = _own(s, app_id)
        return _terms_page(app)


def _terms_page(app, error: str | None = None, status: int = 200):
    world = sandbox().require_world()
    version = g.utility.profile.terms_version
    text = onboarding.terms_text(world.terms, version, g.utility.name)
    return render_template(
        "developer/terms.html",
        app=app,
        version=version,
        text=text,
        error=error,
        accepted=app.terms_version == version and app.terms_accepted_at is not None,
        nav="apps",
    ), status


@bp.post("/apps/<int:app_id>/terms")
@login_required
def accept_terms(app_id: int):
    sb = sandbox()
    with sb.db.sessions() as s:
        app = _own(s, app_id)
    if request.form.get("accept") != "yes":
        return _terms_page(app, "accept: tick the box to accept the terms.", 400)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        return _terms_page(app, "version: missing; reload the page and accept again.", 400)
    try:
        onboarding.accept_terms(
            sb.db, sb.clock, g.utility_id, app_id, version, g.utility.profile, developer_id=g.developer.id
        )
    except errors.Refused as exc:
        return _terms_page(app, exc.message, 400)
    flash(f"Terms version {version} accepted.", "info")
    return redirect(url_for("developer.show_app", app_id=app_id), 303)


@bp.post("/apps/<int:app_id>/certificate")
@upload_limit(lambda: onboarding.MAX_CERTIFICATE_BYTES + UPLOAD_OVERHEAD)
@login_required
def upload_certificate(app_id: int):
    sb = sandbox()
    with sb.db.sessions() as s:
        _own(s, app_id)
    upload = request.files.get("file")
    data: str | bytes = ""
    if upload is not None and upload.filename:
        data = upload.read(onboarding.MAX_CERTIFICATE_BYTES + 1)
    elif request.form.get("pem", "").strip():
        data = request.form["pem"]
    try:
        info = onboarding.store_certificate(
            sb.db, sb.clock, g.utility_id, app_id, data, g.utility.profile, developer_id=g.developer.id
        )
    except errors.Refused as exc:
        return _app_page(app_id, status=400, error=exc.message)
    flash(f"Certificate stored: {info.subject}, SHA-256 {info.fingerprint[:23]}…", "info")
    return redirect(url_for("developer.show_app", app_id=app_id), 303)


@bp.post("/apps/<int:app_id>/notify-test")
@login_required
def notify_test(app_id: int):
    sb = sandbox()
    root = urls.resource_root(request.url_root, g.slug)
    try:
        result = onboarding.send_test_notification(
            sb.db,
            sb.clock,
            g.utility_id,
            app_id,
            root,
            g.utility.profile,
            developer_id=g.developer.id,
            policy=context.notifier().policy,
        )
    except errors.NotFound:
        abort(404, description="No such application of yours at this utility.")
    except errors.Refused as exc:
        return _app_page(app_id, status=400, error=exc.message)
    _flash_delivery("Test notification", result)
    return redirect(url_for("developer.show_app", app_id=app_id), 303)


def _flash_delivery(what: str, result: onboarding.NotifyResult) -> None:
    """What a POST to the notification URI got, said on the next page."""
    if result.ok:
        flash(f"{what} delivered: HTTP {result.status} in {result.ms} ms.", "info")
    elif result.status == 0:
        flash(f"{what} not delivered: {result.body}", "error")
    else:
        flash(f"Your endpoint answered HTTP {result.status} in {result.ms} ms; it must answer 2xx.", "error")


@bp.post("/apps/<int:app_id>/notifications/<int:notification_id>/send")
@login_required
def send_notification(app_id: int, notification_id: int):
    """Send again: one attempt now, its answer shown on the application's page."""
    sb = sandbox()
    with sb.db.sessions() as s:
        _own(s, app_id)
    worker = context.notifier()
    try:
        done = delivery.send_now(
            sb.db,
            notification_id,
            worker.schedule,
            worker.policy,
            timeout=worker.timeout,
            utility_id=g.utility_id,
            application_id=app_id,
        )
    except errors.NotFound:
        abort(404, description="No such notification of this application.")
    except delivery.Busy:
        flash("That notification is being delivered right now; its attempt appears below in a moment.", "info")
    else:
        _flash_delivery(f"Notification {notification_id}", done.result)
    return redirect(url_for("developer.show_app", app_id=app_id, _anchor=f"notification-{notification_id}"), 303)


@bp.post("/apps/<int:app_id>/profile")
@login_required
def set_profile(app_id: int):
    """Answer this application as another behaviour profile would (empty: the utility's own)."""
    sb = sandbox()
    try:
        with sb.db.transaction() as s:
            chosen = third_parties.choose_profile(
                _own(s, app_id), request.form.get("profile"), sb.require_world().profiles
            )
    except errors.Refused as exc:
        return _app_page(app_id, status=400, error=exc.message)
    flash(
        f"Behaviour profile: {chosen}."
        if chosen
        else f"Behaviour profile: {g.utility.profile.behaviour.name}, the utility's own.",
        "info",
    )
    return redirect(url_for("developer.show_app", app_id=app_id, _anchor="profile"), 303)


@bp.post("/apps/<int:app_id>/conformance")
@login_required
def start_conformance(app_id: int):
    """Grade this application's client: a conformance run of every check; its report page next."""
    sb = sandbox()
    with sb.db.sessions() as s:
        client_id = _own(s, app_id).client_id
    try:
        run = conformance_runs.start(sb.db, g.utility_id, client_id, None)
    except errors.Conflict as exc:
        return _app_page(app_id, status=409, error=str(exc))
    context.notifier().wake()
    return redirect(url_for("control.control_conformance_report_page", run_id=run.id), 303)


@bp.post("/apps/<int:app_id>/faults")
@login_required
def set_faults(app_id: int):
    """Fault scenarios for every call of this application's tokens (comma-separated; empty: none)."""
    sb = sandbox()
    names = [n for n in request.form.get("faults", "").split(",") if n.strip()]
    try:
        with sb.db.transaction() as s:
            chosen = fault_catalogue.set_on(_own(s, app_id), names)
    except errors.Refused as exc:
        return _app_page(app_id, status=400, error=exc.message)
    flash(
        f"Fault scenarios: {', '.join(chosen)}." if chosen else "No fault scenarios: calls are answered as ever.",
        "info",
    )
    return redirect(url_for("developer.show_app", app_id=app_id, _anchor="faults"), 303)
