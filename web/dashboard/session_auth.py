"""Signing in with an API key. The session (signed, not encrypted) holds the key's id, never the
key, and the key is checked again at every request: revoked or expired, the session ends."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from web.dashboard.blueprint import bp
from web.dashboard.security import csrf, wants_json
from web.ids import reject_nul_in_query, services

OPEN_ENDPOINTS = frozenset({"dashboard.sign_in"})


@bp.before_request
def gate():
    if not current_app.config.get("SECRET_KEY"):
        return render_template("dashboard/disabled.html"), 503
    csrf.protect()
    reject_nul_in_query()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    holder = None
    raw_id = session.get("key_id")
    if raw_id:
        try:
            holder = services().api_keys.holder(uuid.UUID(raw_id))
        except ValueError:
            holder = None
        if holder is None:
            session.clear()
            flash("Your session ended: the API key was revoked or has expired.")
    if holder is None:
        if wants_json():
            body = {"error": {"code": "signed-out", "message": "Sign in again.", "details": {}}}
            return jsonify(body), 401
        if request.method == "GET":
            # Kept in the session rather than the URL: after sign-in, back to where they were.
            session["next"] = request.full_path.rstrip("?")
        return redirect(url_for("dashboard.sign_in"))
    g.dashboard_holder = holder
    return None


def safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect to another site."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboard/"):
        return url_for("dashboard.imports")
    return target


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if request.method == "GET":
        return render_template("dashboard/sign_in.html")
    holder = services().api_keys.identify(request.form.get("api_key", "").strip())
    if holder is None:
        page = render_template(
            "dashboard/sign_in.html",
            error="That API key is not valid (unknown, revoked or expired).",
        )
        return page, 401
    target = safe_next(session.get("next"))
    # A fresh session: nothing from before sign-in (a planted session id, say) carries over.
    session.clear()
    session.permanent = True
    session["key_id"] = str(holder.key_id)
    return redirect(target)


@bp.post("/sign-out")
def sign_out():
    session.clear()
    flash("Signed out.")
    return redirect(url_for("dashboard.sign_in"))


@bp.get("/")
def home():
    return redirect(url_for("dashboard.imports"))
