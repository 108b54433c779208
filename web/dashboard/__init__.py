"""The dashboard: a blueprint that reads analysis results and shows them.

Routes:

- ``/dashboard/...``: the pages behind the admin login (views, export, definitions,
  health); every answer carries a Content-Security-Policy and ``no-store``.
- ``/overlay.js`` and ``/overlay/data``: the on-page heat-map overlay. They are open
  (the page being looked at is another site's), authorised by a signed, expiring
  parameter instead of the session; see ``web.dashboard.overlay``.

Modules: ``auth`` (login, session, CSRF), ``results`` (the one adapter that reads
result objects), ``charts`` (matplotlib, server side), ``views``, ``definitions``
(funnel and experiment forms), ``goals`` (custom events and goals, their form), ``health``, ``live`` (the Live page and its JSON), ``refresh`` (the "Refresh now" button), ``export`` (CSV) and ``overlay``.
Everything a browser sent is attacker-controlled and rendered through Jinja's
autoescaping; nothing user-supplied is marked safe.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from web.dashboard import auth, definitions, export, goals, health, live, overlay, refresh, views
from web.dashboard.tables import cell_text, visible_controls

bp = Blueprint("dashboard", __name__)

ui = Blueprint(
    "ui",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
auth.init(ui)
ui.context_processor(lambda: {"cell": cell_text})
views.register(ui)
definitions.register(ui)
goals.register(ui)
health.register(ui)
live.register(ui)
refresh.register(ui)
export.register(ui)


@ui.route("/<path:_address>")
def not_found(_address: str):
    """A GET of any other /dashboard/ address: the dashboard's not-found page (after its
    login check), not the collector's JSON; the more specific routes win, and a POST-only
    one (logout) still answers 405."""
    try:
        current_app.create_url_adapter(request).match(request.path, method="POST")
    except HTTPException:
        abort(404)
    raise MethodNotAllowed(["POST"])


bp.register_blueprint(ui)
bp.register_blueprint(overlay.public)
bp.record_once(auth.init_app)
# Every printed value shows direction controls as \u202e (a spoofed URL reads as itself).
bp.record_once(lambda state: setattr(state.app.jinja_env, "finalize", visible_controls))
