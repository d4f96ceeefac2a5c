"""The utility's customer portal at /dc/<slug>/: sign-in (username and password, or account
number and postal code), home with usage charts and bills, Download My Data (Green Button
XML or CSV), sharing (authorized third parties, revoke), and moving out.

Views parse the request, call the services (`customers`, `readings`, `dmd`, `statements`...) and `charts`, and
render.
"""

from __future__ import annotations

import datetime as dt
from functools import wraps
from urllib.parse import parse_qs, urlsplit

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from sandbox.core import errors
from sandbox.core.models import Customer
from sandbox.espi.scopes import plain_words, summary_words
from sandbox.services import authorizations, customers, dmd, readings, signin, summaries, third_parties
from sandbox.services.bill_pdf import bill_pdf
from sandbox.services.statements import MEDIA_TYPE, statement, statement_uuid
from sandbox.synth.people import DEMO_PASSWORD, DEMO_USERNAME
from sandbox.web import charts, context
from sandbox.web.context import db_session, sandbox
from sandbox.web.utility import local, lock_message, locked_out, sign_out, utility_blueprint

bp = utility_blueprint("portal", __name__, "/dc/<slug>")
LIVE = (authorizations.AuthState.ACTIVE, authorizations.AuthState.PENDING)  # shown as current on the sharing page
ROLE = context.CUSTOMER


# --- showing numbers and times -------------------------------------------------------------


@bp.app_template_filter("money")
def _money(amount, currency=None):
    return summaries.format_money(amount, currency or g.utility.currency)


@bp.app_template_filter("qty")
def _qty(value, stream):
    return summaries.format_quantity(value, stream)


@bp.app_template_filter("ended")
def _ended(state, reason: str | None) -> str:
    return authorizations.ended_in_words(state, reason)


@bp.app_template_filter("day")
def _day(day: dt.date | None, fmt: str = "%d %b %Y"):
    return "—" if day is None else day.strftime(fmt)


def history() -> readings.History:
    """The signed-in customer's data span, worked out on first use in a request (kept as g.history)."""
    if "history" not in g:
        sb = sandbox()
        g.history = readings.history(sb.require_world(), g.utility, sb.clock, g.customer)
    return g.history


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        customer = context.current_customer()
        if customer is None:
            flash("Please sign in first.", "error")
            return redirect(url_for("portal.home"))
        context.enter_customer(customer)
        return view(*args, **kwargs)

    return wrapper


bp.context_processor(context.customer_globals)


# --- sign-in ----------------------------------------------------------------------------


def _demo_customer() -> Customer | None:
    return (
        db_session().scalars(select(Customer).where(Customer.utility_id == g.utility_id, Customer.number == 0)).first()
    )


def safe_next(value: str | None) -> str | None:
    """A page of this utility to return to after sign-in (e.g. the OAuth consent page), or None.
    Only paths under /dc/<slug>/ are followed, so the parameter cannot send anyone elsewhere; they are
    the app's own paths (request.full_path), so a private sandbox's /s/{id} goes before them."""
    if not value or not value.startswith(f"/dc/{g.slug}/") or "\\" in value or any(ord(c) < 32 for c in value):
        return None
    return request.script_root + value


def _asking(nxt: str | None) -> dict | None:
    """When the sign-in was asked for by a third party's authorization request: the app's name and
    what it asks for, in plain words (the customer reads who sent them before signing in)."""
    if not nxt:
        return None
    parts = urlsplit(nxt)
    if not parts.path.endswith("/oauth/authorize"):
        return None
    query = parse_qs(parts.query)
    client_id, scope = query.get("client_id", [""])[0], query.get("scope", [""])[0]
    name = third_parties.name_of(sandbox().db, g.utility_id, client_id) if client_id else None
    return {"app": name, "items": plain_words(scope) if scope else []} if name else None


def _login_page(error: str | None = None, status: int = 200, method: str = "password", **fields) -> Response:
    asked = request.values.get("next")
    nxt = asked if safe_next(asked) else None  # the app's own path, carried through the form
    return Response(
        render_template(
            "portal/login.html",
            error=error,
            method=method,
            fields=fields,
            demo=_demo_customer(),
            next=nxt,
            asking=_asking(nxt),
            demo_username=DEMO_USERNAME,
            demo_password=DEMO_PASSWORD,
            staff_username=signin.STAFF_USERNAME,
            staff_password=signin.STAFF_PASSWORD,
            customer_password=sandbox().require_world().customer_password,
            max_failures=signin.MAX_FAILURES,
            lockout_minutes=int(signin.LOCKOUT.total_seconds() // 60),
        ),
        status,
    )


@bp.get("/")
def home():
    customer = context.current_customer()
    if customer is None:
        return _login_page()
    context.enter_customer(customer)
    sb = sandbox()
    view = charts.overview(sb.require_world(), g.utility, sb.clock, g.customer)
    return render_template("portal/home.html", overview=view, portal_history=history(), nav="home")


@bp.get("/login")
def login_form():
    return redirect(url_for("portal.home"))


@bp.post("/login")
def login():
    sb = sandbox()
    method = request.form.get("method", "")
    if method == "password":
        username, password = request.form.get("username", ""), request.form.get("password", "")
        if not username.strip() or not password:
            return _login_page("Enter your username and your password.", 400, method, username=username)
        result = signin.login_with_password(sb.db, sb.clock, g.utility_id, username, password)
        fields = {"username": username}
    elif method == "account":
        number, postal = request.form.get("account_number", ""), request.form.get("postal_code", "")
        if not number.strip() or not postal.strip():
            return _login_page("Enter your account number and your postal code.", 400, method, account_number=number)
        result = signin.login_with_account(sb.db, sb.clock, g.utility_id, number, postal)
        fields = {"account_number": number}
    else:
        return _login_page("method must be 'password' or 'account'.", 400)
    if result.locked:
        return locked_out(_login_page(lock_message(result), 429, method, **fields), result.locked_until)
    if not result.ok:
        return _login_page(result.error, 401, method, **fields)
    context.sign_in(ROLE, result.customer_id)
    return redirect(safe_next(request.form.get("next")) or url_for("portal.home"), 303)


@bp.post("/logout")
def logout():
    return sign_out(ROLE, "You are signed out.", "portal.home")


# --- Download My Data -------------------------------------------------------------------


def _dmd_page(error: str | None = None, status: int = 200, form=None):
    h = history()
    presets = {c: dmd.preset_period(c, h) for c in ("last_month", "last_12_months")}
    holds = dmd.readings_held(sandbox().require_world(), g.utility, g.customer)
    return render_template(
        "portal/download.html",
        nav="download",
        error=error,
        form=form or {},
        presets=presets,
        holds=holds,
        first_day=h.first,
        last_day=h.end - dt.timedelta(days=1),
        empty=h.empty,
        max_span_days=dmd.MAX_SPAN_DAYS,
        label=dmd.last_month_label,
    ), status


@bp.get("/download")
@login_required
def download_form():
    return _dmd_page()


@bp.post("/download")
@login_required
def download():
    sb = sandbox()
    form = request.form
    raw_ids = form.getlist("usage_point")
    try:
        ids = [int(x) for x in raw_ids]
    except ValueError:
        return _dmd_page("usage_point: not a usage point number.", 400, form)
    if not ids:
        return _dmd_page("usage_point: choose at least one service to download.", 400, form)
    try:
        ups = customers.chosen_usage_points(g.customer, ids)
    except errors.NotFound:
        abort(404, description="usage_point: no such usage point on your account.")
    fmt = form.get("format", "xml")
    if fmt not in ("xml", "csv"):
        return _dmd_page("format must be 'xml' or 'csv'.", 400, form)
    with_cost = form.get("cost") == "1"
    with_net = form.get(dmd.NET_CHOICE) == "1"
    try:
        start, end = dmd.dmd_period(
            form.get("period"), form.get("start"), form.get("end"), history(), dmd.MAX_SPAN_DAYS
        )
    except errors.Refused as exc:
        return _dmd_page(exc.message, 400, form)
    if fmt == "csv":  # the same selection and the same numbers, one row per reading
        # the file opens its own database session: this request's has ended by the time it is written
        body = dmd.usage_csv(sb, g.customer.id, [up.id for up in ups], start, end, with_cost, with_net)
        return _attachment(body, "text/csv; charset=utf-8", dmd.file_name(g.utility, g.customer, start, end, "csv"))
    # the period was checked against history() above; the file opens its own database session
    d = dmd.build_download(
        sb,
        g.customer,
        [up.id for up in ups],
        start,
        end,
        with_cost,
        base_url=request.url_root.rstrip("/"),
        h=history(),
        net=with_net,
    )
    return _attachment(d.chunks, d.content_type, d.filename)


def _attachment(chunks, content_type: str, filename: str) -> Response:
    resp = Response(chunks, content_type=content_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- bills -----------------------------------------------------------------------------


def bill_url(month: dt.date) -> str:
    """Where the signed-in customer downloads the bill of the month that starts on `month`."""
    sb = sandbox()
    return url_for(
        "portal.bill_document", statement_id=statement_uuid(sb.require_world(), g.utility, g.customer, month)
    )


bp.context_processor(lambda: {"bill_url": bill_url})


@bp.get("/bills/<statement_id>.pdf")
@login_required
def bill_document(statement_id: str):
    """A month's bill as the PDF the ESPI Statement points at; only the signed-in customer's."""
    sb = sandbox()
    try:
        st = statement(sb.require_world(), g.utility, sb.clock, g.customer, statement_id)
    except errors.NotFound:
        abort(404, description="No such bill on your account.")
    return _attachment(bill_pdf(g.utility, g.customer, st), MEDIA_TYPE, st.file_name)


# --- sharing ----------------------------------------------------------------------------


@bp.get("/sharing")
@login_required
def sharing():
    sb = sandbox()
    auths = authorizations.with_state(db_session(), g.customer.id, sb.clock.naive_now())
    current = [x for x in auths if x[1] in LIVE]
    past = [x for x in auths if x[1] not in LIVE]
    # the utility-initiated scope selection (ESPI's ThirdPartyList)
    connect = url_for("oauth.third_party_list", customer_uuid=g.customer.uuid)
    return render_template(
        "portal/sharing.html",
        nav="sharing",
        current=current,
        past=past,
        directory=third_parties.directory(sb.db, g.utility_id),
        describe=summary_words,
        connect_url=connect,
    )


def _own_authorization(auth_id: int):
    for a in authorizations.of_customer(db_session(), g.customer.id):
        if a.id == auth_id:
            return a
    abort(404, description="No such authorization on your account.")


@bp.get("/sharing/<int:auth_id>/revoke")
@login_required
def revoke_confirm(auth_id: int):
    auth = _own_authorization(auth_id)
    state, until = authorizations.state(auth, sandbox().clock.naive_now())
    return render_template(
        "portal/revoke.html", nav="sharing", auth=auth, state=state, until=until, describe=summary_words
    )


@bp.post("/sharing/<int:auth_id>/revoke")
@login_required
def revoke(auth_id: int):
    sb = sandbox()
    try:
        auth = authorizations.revoke_by_customer(sb.db, sb.clock, g.customer.id, auth_id)
    except errors.NotFound:
        abort(404, description="No such authorization on your account.")
    except errors.Refused as exc:
        flash(exc.message, "error")
        return redirect(url_for("portal.sharing"), 303)
    flash(f"{auth.application.name} can no longer get your data: access ended {local(auth.ended_at)}.", "info")
    return redirect(url_for("portal.sharing"), 303)


# --- moving -----------------------------------------------------------------------------


def _moving_page(error: str | None = None, status: int = 200, value: str = ""):
    return render_template(
        "portal/moving.html",
        nav="moving",
        error=error,
        value=value,
        latest=g.today + dt.timedelta(days=customers.MOVE_MAX_DAYS_AHEAD),
    ), status


@bp.get("/moving")
@login_required
def moving_form():
    return _moving_page()


@bp.post("/moving")
@login_required
def moving():
    sb = sandbox()
    text = request.form.get("moving_day", "")
    try:
        day = dmd.parse_day(text, "moving_day")
        if request.form.get("confirm") != "1":
            raise errors.Refused("confirm: tick the box to confirm that service should end.", "confirm")
        result = customers.move_out(sb.db, sb.clock, g.customer.id, day, g.utility.time_zone)
    except errors.Refused as exc:
        return _moving_page(exc.message, 400, text)
    n = result.authorizations_ended
    if n == 1:
        shared = " The app you share your data with stops getting it then too."
    else:
        shared = f" The {n} apps you share your data with stop getting it then too." if n else ""
    flash(f"Service at {g.customer.street} ends on {result.service_end:%d %b %Y}.{shared}", "info")
    return redirect(url_for("portal.home"), 303)
