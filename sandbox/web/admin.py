"""The utility staff view at /dc/<slug>/admin/ (fixed login `staff`/`staff`, see
signin.STAFF_USERNAME): find customers, see a customer's usage points and
authorizations, import a Green Button file for a customer, and approve, block, unblock, put on
hold or release third parties.
"""

from __future__ import annotations

import datetime as dt
from functools import wraps

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from sandbox.core import errors
from sandbox.espi.scopes import summary_words
from sandbox.services import authorizations, customers, dmd, onboarding, readings, signin, third_parties
from sandbox.web import context
from sandbox.web.context import db_session, fresh_db_session, sandbox
from sandbox.web.utility import lock_message, locked_out, sign_out, upload_limit, utility_blueprint

bp = utility_blueprint("admin", __name__, "/dc/<slug>/admin")
ROLE = context.STAFF
UPLOAD_OVERHEAD = 64 * 1024  # multipart headers and the CSRF field around the file


@bp.context_processor
def _admin_globals():
    return {
        "staff": g.get("staff"),
        "status_text": third_parties.status_text,
        "staff_actions": third_parties.staff_actions,
    }


def staff_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        g.staff = context.current_staff()
        if g.staff is None:
            flash("Staff sign-in required.", "error")
            return redirect(url_for("admin.home"))
        return view(*args, **kwargs)

    return wrapper


def _login_page(error: str | None = None, status: int = 200, username: str = "") -> Response:
    return Response(
        render_template(
            "admin/login.html",
            error=error,
            username=username,
            staff_username=signin.STAFF_USERNAME,
            staff_password=signin.STAFF_PASSWORD,
        ),
        status,
    )


@bp.get("/")
def home():
    g.staff = context.current_staff()
    if g.staff is None:
        return _login_page()
    q = request.args.get("q", "").strip()
    if len(q) > 200:
        abort(400, description="q: at most 200 characters.")
    found = customers.find_customers(sandbox().db, g.utility_id, q)
    return render_template("admin/customers.html", q=q, customers=found, limit=customers.SEARCH_LIMIT, nav="customers")


@bp.post("/login")
def login():
    sb = sandbox()
    username, password = request.form.get("username", ""), request.form.get("password", "")
    if not username.strip() or not password:
        return _login_page("Enter the staff username and password.", 400, username)
    result = signin.staff_login(sb.db, sb.clock, g.utility_id, username, password)
    if result.locked:
        return locked_out(_login_page(lock_message(result), 429, username), result.locked_until)
    if not result.ok:
        return _login_page(result.error, 401, username)
    context.sign_in(ROLE, signin.STAFF_USERNAME)
    return redirect(url_for("admin.home"), 303)


@bp.post("/logout")
def logout():
    return sign_out(ROLE, "Staff signed out.", "admin.home")


def _customer(customer_id: int):
    try:
        return customers.customer_of_utility(db_session(), g.utility_id, customer_id)
    except errors.NotFound:
        abort(404, description="No such customer at this utility.")


def _customer_page(customer_id: int, error: str | None = None, status: int = 200, summary=None):
    sb = sandbox()
    customer = _customer(customer_id)
    auths = authorizations.with_state(db_session(), customer.id, sb.clock.naive_now())
    today = sb.clock.today(g.utility.time_zone)
    history = readings.history(sb.require_world(), g.utility, sb.clock, customer)
    lock = signin.sign_in_lock(sb.db, sb.clock, g.utility_id, customer.id)
    return render_template(
        "admin/customer.html",
        c=customer,
        auths=auths,
        state=customers.account_state(customer, today),
        history=history,
        last_day=history.end - dt.timedelta(days=1),
        error=error,
        summary=summary,
        lock=lock,
        nav="customers",
        describe=summary_words,
        max_bytes=dmd.MAX_IMPORT_BYTES,
    ), status


@bp.get("/customers/<int:customer_id>")
@staff_required
def customer(customer_id: int):
    return _customer_page(customer_id)


@bp.post("/customers/<int:customer_id>/unlock")
@staff_required
def unlock(customer_id: int):
    sb = sandbox()
    _customer(customer_id)
    signin.clear_sign_in_lock(sb.db, g.utility_id, customer_id)
    flash("Sign-in unlocked.", "info")
    return redirect(url_for("admin.customer", customer_id=customer_id), 303)


@bp.post("/customers/<int:customer_id>/import")
@upload_limit(lambda: dmd.MAX_IMPORT_BYTES + UPLOAD_OVERHEAD)
@staff_required
def import_file(customer_id: int):
    sb = sandbox()
    customer = _customer(customer_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _customer_page(customer_id, "file: choose a Green Button file (.xml) to import.", 400)
    data = upload.read(dmd.MAX_IMPORT_BYTES + 1)
    if len(data) > dmd.MAX_IMPORT_BYTES:
        abort(413, description=f"file: larger than {dmd.MAX_IMPORT_BYTES:,} bytes.")
    if not data:
        return _customer_page(customer_id, "file: the file is empty.", 400)
    try:
        summary = dmd.import_green_button(sb, customer, data)
    except dmd.ImportRefused as exc:
        return _customer_page(customer_id, f"Import refused, nothing was stored: {exc}", 400)
    fresh_db_session()  # read the imported usage points afresh
    return _customer_page(customer_id, summary=summary)


@bp.get("/applications")
@staff_required
def applications():
    return render_template(
        "admin/applications.html", apps=third_parties.applications(sandbox().db, g.utility_id), nav="applications"
    )


_DONE = {
    third_parties.APPROVE: "{name} is approved: status {status}.",
    "block": "{name} is blocked: its access to customer data is suspended (status {status}).",
    "unblock": "{name} is unblocked (status {status}).",
    "hold": "{name} is on hold: its access to customer data is suspended (status {status}).",
    "release": "{name} is released from hold (status {status}).",
}


@bp.post(f"/applications/<int:app_id>/<any({', '.join(_DONE)}):action>")
@staff_required
def set_status(app_id: int, action: str):
    """Approve (Review -> Production, once the onboarding checklist is done), or one of third_parties.STATUS_ACTIONS."""
    sb = sandbox()
    try:
        if action == third_parties.APPROVE:
            app = onboarding.approve_application(sb.db, sb.clock, g.utility_id, app_id, g.utility.profile)
        else:
            app = third_parties.set_application_status(sb.db, sb.clock, g.utility_id, app_id, action)
    except errors.NotFound:
        abort(404, description="No such third party at this utility.")
    except errors.Refused as exc:
        flash(exc.message, "error")
    else:
        flash(_DONE[action].format(name=app.name, status=third_parties.status_text(app.status)), "info")
    return redirect(url_for("admin.applications"), 303)
