"""Tables: what a page shows and what its CSV export writes are the same object.

Each view builds named ``Table``s; the template renders them with one macro and the
export writes them with ``csv_rows``. Both go through ``cell_text``, so a CSV always
matches the table on screen.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

# Spreadsheets run cells that start with these as formulas: CSV cells of text columns
# (attacker-controlled URLs, selectors) get a leading apostrophe (OWASP's advice).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def formula_like(text: str) -> bool:
    """Whether a spreadsheet might run the cell: a formula character first, also behind
    leading whitespace or newlines, and in its full-width or small forms (＝＋－＠),
    which spreadsheets in East Asian locales read as the ASCII ones."""
    return text.startswith(FORMULA_START) or unicodedata.normalize("NFKC", text).lstrip().startswith(FORMULA_START)


@dataclass
class Column:
    key: str
    label: str
    kind: str = "text"  # text | int | pct | ms | float | p


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def cell_text(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind == "int":
        return str(int(value))
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "ms":
        return f"{value / 1000:.1f} s"
    if kind == "float":
        return f"{value:.3g}"
    if kind == "p":
        return "< 0.001" if value < 0.001 else f"{value:.3f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def csv_rows(table: Table) -> list[list[str]]:
    out = [[c.label for c in table.columns]]
    for row in table.rows:
        cells = []
        for c in table.columns:
            text = cell_text(row.get(c.key), c.kind)
            if c.kind == "text" and formula_like(text):
                text = "'" + text
            cells.append(text)
        out.append(cells)
    return out


# Direction controls: a URL holding U+202E reads backwards ("/\u202egnp.exe" shows as
# ".../exe.png"). Every value a template prints shows them as \u202e instead (Jinja's
# finalize, set in web.dashboard); live.js does the same.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible_controls(value: object) -> object:
    if isinstance(value, str) and not isinstance(value, Markup) and _BIDI.search(value):
        return _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return value
