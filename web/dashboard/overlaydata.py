"""What the on-page overlay draws, from the stored heat-map (and experiment) results.

Per viewport class: the click grid, with each cell's users, the movement grid (its cells
twice as coarse each way: ``move_columns`` by ``move_row_px``) and the
attention per tenth of the page; per page: the click map (clicks, rage and dead clicks by
element), the scroll reach and the experiments whose variants clicked on the page.

Users per cell: the heat-map job stores each cell's distinct users as short hashes of their
user keys (``cell_users``, see analysis/jobs/heatmap.py). Here the hashes of the whole date
range are replaced by small numbers (0, 1, 2 ... in the order of the sorted hashes), so no
hash leaves the server and the overlay counts the distinct users of any rectangle exactly: a
visitor who clicked two cells, or on two days, counts once. Where a day's results predate
``cell_users``, ``users`` is false and the cells carry no user numbers.

A variant (``experiment:variant``) replaces the click and movement grids with that variant's
(``analysis.jobs.abheat``, precomputed with the experiment's results); per-cell users,
attention and scroll are not kept per variant, so they are left out (``users`` false,
``attention`` and ``scroll`` empty), as is the click map, rather than shown for everyone. Scroll depth is
not kept per viewport class either: the scroll reach is over every device.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from web.dashboard.results import GRID_COLUMNS, MOVE_COLUMNS, MOVE_ROW_PX, ROW_PX, Results

REACH_SHARES = (0.75, 0.5, 0.25)  # the scroll-reach lines: where these shares of visitors still were
VIEWPORT_CLASSES = ("desktop", "tablet", "mobile")  # analysis.schema: by viewport width


def _move_cell(found: dict, r: dict) -> tuple[int, int]:
    """A ``moves`` row's cell on the movement grid. Documents written before the movement grid
    was made coarser (they have no ``move_grid``) hold click-grid cells: each lies in one."""
    if "move_grid" in found:
        return int(r["col"]), int(r["row"])
    return int(r["col"]) // (GRID_COLUMNS // MOVE_COLUMNS), int(r["row"]) // (MOVE_ROW_PX // ROW_PX)


def _cells(grid: dict[tuple[int, int], int]) -> list[list]:
    return [[c, r, n] for (c, r), n in sorted(grid.items())]


def _scroll(depths: Counter) -> tuple[list[dict], list[dict]]:
    """(per 10% bucket: depth, leaves, reached), (per REACH_SHARES: share, depth): the
    deepest bucket that at least that share of page leaves reached (scroll_depth is the
    bottom of the viewport at its lowest, in percent of the page)."""
    total = reached = sum(depths.values())
    rows = []
    for depth in range(0, 101, 10):
        rows.append({"depth": depth, "leaves": depths[depth], "reached": reached / total if total else None})
        reached -= depths[depth]
    lines = []
    for share in REACH_SHARES:
        deepest = [r["depth"] for r in rows if r["reached"] is not None and r["reached"] >= share]
        if deepest:
            lines.append({"share": share, "depth": max(deepest)})
    return rows, lines


def _variant_grids(results: Results, token: str, page: str, days: list[str], variant: str | None):
    """({experiment: [variants]} seen on the page, click grids and move grids of ``variant``)."""
    names: dict[str, set] = defaultdict(set)
    clicks: dict[str, Counter] = defaultdict(Counter)
    moves: dict[str, Counter] = defaultdict(Counter)
    for _day, data in results.data("experiments", token, days):
        for exp in data.get("experiments", []):
            name = (exp.get("experiment") or {}).get("name")
            found = exp.get("heatmap") or {}
            for kind, into in (("clicks", clicks), ("moves", moves)):
                for r in found.get(kind, []):
                    if r["page"] != page:
                        continue
                    names[name].add(r["variant"])
                    if f"{name}:{r['variant']}" == variant:
                        cell = _move_cell(found, r) if kind == "moves" else (int(r["col"]), int(r["row"]))
                        into[r["viewport_class"]][cell] += r[kind]
    return {k: sorted(v) for k, v in sorted(names.items())}, clicks, moves


def overlay_data(
    results: Results, token: str, page: str, days: list[str], viewport: str | None = None, variant: str | None = None
) -> dict:
    """The overlay's data for ``page`` over ``days``; ``viewport`` keeps one viewport class,
    ``variant`` (``experiment:variant``) that variant's visitors' clicks and movement."""
    grids: dict[str, Counter] = defaultdict(Counter)
    moves: dict[str, Counter] = defaultdict(Counter)
    cell_users: dict[str, dict[tuple[int, int], set]] = defaultdict(lambda: defaultdict(set))
    attention: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0.0]))
    selectors: dict[str, Counter] = defaultdict(Counter)
    depths: Counter = Counter()
    grid_days, user_days = set(), set()
    for day, data in results.data("heatmap", token, days):
        for r in data.get("grid", []):
            if r["page"] == page:
                grids[r["viewport_class"]][(int(r["col"]), int(r["row"]))] += r["clicks"]
                grid_days.add(day)
        for r in data.get("cell_users", []):
            if r["page"] == page:
                cell_users[r["viewport_class"]][(int(r["col"]), int(r["row"]))].update(r["users"])
                user_days.add(day)
        for r in data.get("moves", []):
            if r["page"] == page:
                moves[r["viewport_class"]][_move_cell(data, r)] += r["moves"]
        for r in data.get("attention", []):
            if r["page"] == page:  # means weighted by the views they are over
                a = attention[r["viewport_class"]][int(r["tenth"])]
                a[0] += r["views"]
                a[1] += r["views"] * (r.get("mean_ms") or 0)
                a[2] += r["views"] * (r.get("reached") or 0)
        for r in data.get("click_map", []):
            if r["page"] == page:
                for k in ("clicks", "rage_clicks", "dead_clicks"):
                    selectors[r["selector"]][k] += r.get(k) or 0
        for r in data.get("scroll_depth", []):
            if r["page"] == page:
                depths[int(r["depth"])] += r["leaves"]
    experiments, variant_clicks, variant_moves = _variant_grids(results, token, page, days, variant)
    has_users = grid_days <= user_days and not variant
    if variant:
        grids, moves, attention, depths, selectors = variant_clicks, variant_moves, {}, Counter(), {}
    classes = [viewport] if viewport else sorted(set(grids) | set(moves) | set(attention))
    ids = {h: i for i, h in enumerate(sorted({h for vc in classes for s in cell_users[vc].values() for h in s}))}
    out_grids = {}
    for vc in classes:
        cells = _cells(grids.get(vc, {}))
        if has_users:
            for cell in cells:
                cell.append(sorted(ids[h] for h in cell_users[vc].get((cell[0], cell[1]), ())))
        out_grids[vc] = cells
    scroll, reach = _scroll(depths)
    return {
        "columns": GRID_COLUMNS,
        "row_px": ROW_PX,
        "move_columns": MOVE_COLUMNS,
        "move_row_px": MOVE_ROW_PX,
        "viewport": viewport,
        "variant": variant,
        "users": has_users,
        "grids": out_grids,
        "moves": {vc: _cells(moves.get(vc, {})) for vc in classes},
        "attention": {
            vc: [
                {"tenth": t, "views": v, "mean_ms": ms / v, "reached": seen / v}
                for t, (v, ms, seen) in sorted(attention.get(vc, {}).items())
                if v
            ]
            for vc in classes
        },
        "scroll": scroll,
        "scroll_reach": reach,
        "click_map": [
            {"selector": s, "clicks": c["clicks"], "rage_clicks": c["rage_clicks"], "dead_clicks": c["dead_clicks"]}
            for s, c in sorted(selectors.items(), key=lambda kv: (-kv[1]["clicks"], kv[0]))[:200]
        ],
        "experiments": experiments,
    }
