"""A/B heat maps on the page view: per experiment, each variant's click map side by side, and
a difference map per variant against control (``analysis.stats.cell_differences``: a
two-proportion z-test per block of cells, Benjamini-Hochberg across blocks)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace

from analysis.stats import FDR, cell_differences
from web.dashboard import heatimage

MAX_VARIANTS = 5  # drawn per experiment: control and the others with most clicks on the page


def ab_maps(results, token: str, page: str, days: list[str], viewport_class: str, lay: heatimage.Layout) -> list[dict]:
    """[{experiment, control, variants: [{variant, clicks, moves, image, info}], differences:
    [{variant, image, blocks (the significant ones), tested}]}] for the experiments with
    clicks on ``page`` in ``viewport_class`` over ``days``."""
    grids: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    moves: dict[str, dict[str, int]] = defaultdict(Counter)
    controls: dict[str, str] = {}
    for _day, data in results.data("experiments", token, days):
        for exp in data.get("experiments", []):
            name = exp["experiment"]["name"]
            controls[name] = exp["experiment"].get("control") or "control"
            found = exp.get("heatmap") or {}
            for r in found.get("clicks", []):
                if r["page"] == page and r["viewport_class"] == viewport_class:
                    grids[name][r["variant"]][(int(r["col"]), int(r["row"]))] += r["clicks"]
            for r in found.get("moves", []):
                if r["page"] == page and r["viewport_class"] == viewport_class:
                    moves[name][r["variant"]] += r["moves"]
    # The labels' counts are every visitor's clicks (the click map is not kept per variant):
    # on a variant's panel they would contradict its own total, so the labels only name.
    lay = replace(lay, labels=[{**label, "clicks": None} for label in lay.labels])
    out = []
    for name in sorted(grids):
        control = controls[name]
        drawn, left = _most_clicked(grids[name], control)
        variants = []
        for variant in sorted(drawn, key=lambda v: (v != control, v)):
            grid = dict(grids[name][variant])
            image, info = heatimage.heatmap_png(grid, viewport_class, lay)
            variants.append(
                {
                    "variant": variant,
                    "clicks": sum(grid.values()),
                    "moves": moves[name].get(variant, 0),
                    "image": image,
                    "info": info,
                }
            )
        differences = []
        base = dict(grids[name].get(control, {}))
        for v in variants:
            if v["variant"] == control or not base:
                continue
            blocks = cell_differences(base, dict(grids[name][v["variant"]]))
            image, _ = heatimage.difference_png(base, viewport_class, lay, blocks)
            marked = [
                {
                    "x": f"{b['col'] * 2}-{(b['col'] + b['cols']) * 2}%",
                    "y": f"{b['row'] * 20}-{(b['row'] + b['rows']) * 20} px",
                    "control_share": b["control_share"],
                    "variant_share": b["variant_share"],
                    "difference": b["difference"],
                    "q_value": b["q_value"],
                }
                for b in blocks
                if b["significant"]
            ]
            differences.append({"variant": v["variant"], "image": image, "blocks": marked, "tested": len(blocks)})
        out.append(
            {"experiment": name, "control": control, "variants": variants, "differences": differences, "left_out": left}
        )
    return out


def _most_clicked(grids: dict[str, Counter], control: str) -> tuple[list[str], dict[str, int]]:
    """(control and the ``MAX_VARIANTS`` - 1 other variants with most clicks, {variants, clicks}
    of the rest): a visitor's exposure may name any variant, and each one drawn is two images."""
    total = {v: sum(g.values()) for v, g in grids.items()}
    others = sorted((v for v in total if v != control), key=lambda v: (-total[v], v))
    kept, rest = others[: MAX_VARIANTS - 1], others[MAX_VARIANTS - 1 :]
    return [control, *kept] if control in total else kept, {
        "variants": len(rest),
        "clicks": sum(total[v] for v in rest),
    }


__all__ = ["FDR", "ab_maps"]
