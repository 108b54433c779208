"""CSV export of any table, and the documented commands that read the raw day folders.

``/dashboard/export/<view>/<table>.csv`` rebuilds the view with the same filters and
writes the named table through ``tables.csv_rows``, so the file matches the screen.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort

from web.dashboard import guard
from web.dashboard.definitions import build_experiments, build_funnels
from web.dashboard.goals import build_goals
from web.dashboard.health import build_health
from web.dashboard.tables import csv_rows
from web.dashboard.views import build_overview, build_page, filters

BUILDERS = {
    "overview": build_overview,
    "page": build_page,
    "funnels": build_funnels,
    "experiments": build_experiments,
    "goals": build_goals,
    "health": build_health,
}


def export(view: str, table: str) -> Response:
    build = BUILDERS.get(view)
    if build is None:
        abort(404, f"no view {view!r}")
    f = filters()
    _context, tables = guard.built(f, build)
    if table not in tables:
        abort(404, f"no table {table!r} in {view}")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(csv_rows(tables[table]))
    name = f"logdig-{view}-{table}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return Response(
        buf.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/export/<view>/<table>.csv", "export", export)
