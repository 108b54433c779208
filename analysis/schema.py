"""The event fields the analysis reads, and the checks every row must pass.

Both engines read raw JSON into the same typed columns (``analysis.io``). Everything
after that -- parsing timestamps, normalising URLs, the validity rules, removing
repeats -- is written once here, with the DataFrame API, so the engines cannot
disagree about which rows count.

Rules (documented in analysis/README.md):

* A row is *bad* (skipped and counted by reason) when the line is not a JSON object,
  a field has the wrong JSON type (Spark's JSON rules: a number where a number is
  expected, an integer for ``load_count``, true/false for booleans; anything is
  accepted for a string field and kept as its JSON text), a required field is
  missing or null, ``type`` is not one of the five types, ``timestamp`` or
  ``received_at`` is not ISO-8601 with a zone, or a number is out of its range.
* ``page`` is ``current_page`` with the query string and fragment cut off and then
  trailing slashes removed: ``https://a.com/shop/?q=1#top`` -> ``https://a.com/shop``.
* ``viewport_class``: ``mobile`` below 768 CSS px wide, ``tablet`` from 768 to 1023,
  ``desktop`` from 1024; ``unknown`` without ``viewport_w``.
* ``device_type``: ``desktop``, ``mobile``, ``tablet``, ``bot`` or ``unknown``, by the rule of
  ``analysis.devices`` (parsed user agent, then viewport width).
* ``day`` is the object's day folder, the UTC day of ``received_at``. Repeats are removed per
  ``(token, day, event_id)``, keeping the earliest received copy, so a day's result
  depends only on that day's objects.
"""

from __future__ import annotations

from typing import Any

from analysis.devices import DESKTOP_MIN, TABLET_MIN, device_type_column
from analysis.engines import api, stage

# name -> kind; kinds: string, double, long, bool, doubles (a list of numbers), points (a list of
# lists of numbers: a move event's [x, y, ms] samples)
FIELDS: dict[str, str] = {
    "event_id": "string",
    "token": "string",
    "user_key": "string",
    "type": "string",
    "timestamp": "string",
    "received_at": "string",
    "current_page": "string",
    "link": "string",
    "x": "double",
    "y": "double",
    "spent_milli_sec": "double",
    "user_agent": "string",
    "load_count": "long",
    "viewport_w": "double",
    "viewport_h": "double",
    "page_w": "double",
    "page_h": "double",
    "selector": "string",
    "rage": "bool",
    "referrer": "string",
    "scroll_depth": "double",
    "name": "string",
    "variant": "string",
    "text": "string",
    "browser": "string",
    "os": "string",
    "device": "string",
    "bot": "bool",
    # server fields set at ingest (logdig/sources.py, logdig/geo.py); absent in older events
    "channel": "string",
    "utm_source": "string",
    "utm_medium": "string",
    "utm_campaign": "string",
    "utm_term": "string",
    "utm_content": "string",
    "country": "string",
    # heat maps (issue 14): clicks on any element, dead clicks, movement, attention
    "interactive": "bool",
    "dead": "bool",
    "points": "points",
    "attention": "doubles",
}

REQUIRED = (
    "event_id",
    "token",
    "user_key",
    "type",
    "timestamp",
    "received_at",
    "current_page",
    "spent_milli_sec",
    "user_agent",
    "load_count",
)
NON_EMPTY = ("event_id", "token", "user_key")
TYPES = ("click", "pageview", "pageleave", "custom", "exposure", "move")
RANGES: dict[str, tuple[float, float]] = {
    "x": (0, 1_000_000),
    "y": (0, 1_000_000),
    "viewport_w": (0, 1_000_000),
    "viewport_h": (0, 1_000_000),
    "page_w": (0, 1_000_000),
    "page_h": (0, 1_000_000),
    "spent_milli_sec": (0, 100_000_000_000),
    "load_count": (0, 2_147_483_647),
    "scroll_depth": (0, 100),
}
# The array fields' rules (logdig/event.schema.json), as Spark SQL (sqlframe turns it into
# DuckDB's): true when the array breaks them. A null item breaks them too (Spark keeps one).
_PX, _MS = 1_000_000, 100_000_000_000


def _outside(item: str, hi: int) -> str:
    return f"NOT coalesce({item} BETWEEN 0 AND {hi}, false)"


ARRAY_RULES: dict[str, str] = {
    "points": "size(points) NOT BETWEEN 1 AND 300 OR size(filter(points, p -> size(p) <> 3 OR "
    f"{_outside('p[0]', _PX)} OR {_outside('p[1]', _PX)} OR {_outside('p[2]', _MS)})) > 0",
    "attention": f"size(attention) <> 10 OR size(filter(attention, a -> {_outside('a', _MS)})) > 0",
}

# Viewport classes: (name, smallest width in CSS px). Bootstrap's md and lg breakpoints.
VIEWPORT_CLASSES = (("mobile", 0), ("tablet", TABLET_MIN), ("desktop", DESKTOP_MIN))

# ISO-8601 as the event schema allows it: seconds optional, offset with or without ':'.
# No capturing groups: a pure yes/no match is the regex engines' fast path; the parts are
# cut at fixed positions afterwards (see with_epoch_ms).
ISO_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$"

SPARK_TYPES = {"string": "StringType", "double": "DoubleType", "long": "LongType", "bool": "BooleanType"}
CORRUPT = "_corrupt_record"


def spark_type(T: Any, kind: str) -> Any:
    """The Spark type of a field kind (of :data:`FIELDS`), from the given types module."""
    if kind == "doubles":
        return T.ArrayType(T.DoubleType(), True)
    if kind == "points":
        return T.ArrayType(T.ArrayType(T.DoubleType(), True), True)
    return getattr(T, SPARK_TYPES[kind])()


def struct_type(T: Any, corrupt_column: bool = False) -> Any:
    """The read schema as a StructType of the given types module."""
    fields = [T.StructField(name, spark_type(T, kind), True) for name, kind in FIELDS.items()]
    if corrupt_column:
        fields.append(T.StructField(CORRUPT, T.StringType(), True))
    return T.StructType(fields)


def _int(F: Any, col: Any) -> Any:
    # '0' + text: an empty part becomes 0 and nothing casts an empty string.
    return F.concat(F.lit("0"), col).cast("long")


def with_epoch_ms(df: Any, columns: dict[str, str], keep: list[str]) -> Any:
    """Keep ``keep`` and add, per ``src -> out`` of ``columns`` (ISO text columns), ``out``
    (ms since 1970 UTC, null when invalid) and ``out + '_ok'``.

    Plain arithmetic (Howard Hinnant's days-from-civil), so both engines agree to the
    millisecond on every form the event schema allows. Done in steps so each part is
    computed once (written inline, the engines would repeat the year and zone terms in every
    expression that uses them), and every column goes through the same steps: each step is a
    query level for sqlframe to build and the database to plan (each starts from a
    :func:`~analysis.engines.stage`, so sqlframe does not copy the levels before it again).
    Check the form with one regular expression, cut the parts with plain string functions
    (the form is known by then, so every part is at a fixed place from the start or the
    end), then do the arithmetic.
    """
    F = api(df).F
    kept = [F.col(c) for c in keep]

    def c(out: str, k: str) -> Any:
        return F.col(f"_{out}_{k}")

    def step(parts: Any, carry: tuple[str, ...]) -> Any:
        cols = list(kept)
        for out in columns.values():
            cols += [c(out, k) for k in carry]
            cols += [v.alias(f"_{out}_{k}") for k, v in parts(out).items()]
        return stage(df.select(*cols))

    def form(out: str) -> dict[str, Any]:
        src = F.col(next(s for s, o in columns.items() if o == out))
        return {"ok": src.rlike(ISO_RE), "src": src}

    df = step(form, ())

    def cut(out: str) -> dict[str, Any]:
        # casts see only good forms
        t = F.when(c(out, "ok"), c(out, "src")).otherwise(F.lit("1970-01-01T00:00:00Z"))

        def at(pos: int, n: int = 2) -> Any:
            # digits by the form check (the zone parts below may be empty: those keep _int)
            return F.substring(t, pos, n).cast("long")

        # the zone ends the text: 'Z', '+hh:mm' (':' third from the end) or '+hhmm'
        length = F.length(t)
        zone_len = (
            F.when(t.endswith("Z"), F.lit(1)).when(t.substr(length - 2, F.lit(1)) == ":", F.lit(6)).otherwise(F.lit(5))
        )
        # a fraction: '.' at 20 (after the seconds), its digits up to the zone; milliseconds are the first 3
        digits = F.least(length - 20 - zone_len, F.lit(3))
        frac = F.when(F.substring(t, 20, 1) == ".", F.rpad(t.substr(F.lit(21), digits), 3, "0")).otherwise(F.lit("000"))
        return {
            "y": at(1, 4),
            "mo": at(6),
            "d": at(9),
            "h": at(12),
            "mi": at(15),
            "s": F.when(F.substring(t, 17, 1) == ":", at(18)).otherwise(F.lit(0)),
            "frac": frac.cast("long"),  # 3 digits
            "zone": F.right(t, zone_len),
        }

    df = step(cut, ("ok",))

    def zone(out: str) -> dict[str, Any]:
        z = c(out, "zone")
        return {
            "zmin": F.when(z == "Z", F.lit(0)).otherwise(
                _int(F, F.substring(z, 2, 2)) * 60 + _int(F, F.right(z, F.lit(2)))
            ),
            "west": F.substring(z, 1, 1) == "-",
            "y2": (c(out, "y") - F.when(c(out, "mo") <= 2, F.lit(1)).otherwise(F.lit(0))).cast("double"),
        }

    df = step(zone, ("ok", "mo", "d", "h", "mi", "s", "frac"))

    def era(out: str) -> dict[str, Any]:
        y2, zmin = c(out, "y2"), c(out, "zmin")
        e = F.floor(y2 / 400)
        return {
            "era": e,
            "yoe": y2 - e * 400,
            "mp": ((c(out, "mo") + 9) % 12).cast("double"),
            "offset_min": F.when(c(out, "west"), -zmin).otherwise(zmin),
            "valid": (
                c(out, "ok")
                & c(out, "mo").between(1, 12)
                & c(out, "d").between(1, 31)
                & (c(out, "h") <= 23)
                & (c(out, "mi") <= 59)
                & (c(out, "s") <= 59)
                & (zmin <= 18 * 60)
            ),
        }

    df = step(era, ("d", "h", "mi", "s", "frac"))
    cols = list(kept)
    for out in columns.values():
        yoe = c(out, "yoe")
        doy = F.floor((c(out, "mp") * 153 + 2) / 5) + c(out, "d") - 1
        doe = yoe * 365 + F.floor(yoe / 4) - F.floor(yoe / 100) + doy
        days = c(out, "era") * 146097 + doe - 719468
        seconds = ((days * 24 + c(out, "h")) * 60 + c(out, "mi")) * 60 + c(out, "s")
        ms = (seconds * 1000 + c(out, "frac") - c(out, "offset_min") * 60000).cast("long")
        cols += [F.when(c(out, "valid"), ms).alias(out), c(out, "valid").alias(out + "_ok")]
    return df.select(*cols)


def normalise_url(col: Any, F: Any) -> Any:
    """Cut the query string and fragment, then trailing slashes (see module doc).

    Plain string functions; the one regular expression runs only on URLs ending in '/'.
    """
    base = F.split_part(F.split_part(col, F.lit("?"), F.lit(1)), F.lit("#"), F.lit(1))
    trimmed = F.when(base.endswith("/"), F.regexp_replace(base, r"/+$", "")).otherwise(base)
    return F.when(trimmed == "", base).otherwise(trimmed)


def normalise_page(url: str) -> str:
    """:func:`normalise_url` in plain Python, for funnel and goal patterns (``*`` is kept)."""
    base = url.split("?", 1)[0].split("#", 1)[0]
    return base.rstrip("/") or base


def viewport_class(col: Any, F: Any) -> Any:
    expr = F.when(col.isNull(), F.lit("unknown"))
    for name, smallest in reversed(VIEWPORT_CLASSES):
        expr = expr.when(col >= smallest, F.lit(name))
    return expr.otherwise(F.lit("unknown"))


# The fields the jobs and the repeat removal read; the others are only checked.
CHECKED_ONLY = ("timestamp", "received_at", "user_agent")
KEPT = tuple(n for n in FIELDS if n not in CHECKED_ONLY)


def check(raw: Any) -> Any:
    """Add ``_reason`` (null for a good row) and the derived columns to raw typed rows.

    ``raw`` carries ``day`` (the object's day folder) and ``_corrupt`` from ``analysis.io``.
    Derived: ``ts_ms`` (client time, ms UTC), ``received_ms``, ``page`` (normalised URL), ``viewport_class``
    and ``device_type`` (``analysis.devices``, from the user agent before it is left out).
    Out: the :data:`KEPT` fields, the derived columns, ``day`` and ``_reason``; the fields that
    are only checked (:data:`CHECKED_ONLY`) are not carried on.

    Three query levels of checks: the rules that need no timestamp are decided on the raw
    columns (``_before`` for those that come before the timestamp rules in ``_reason``'s
    order, ``_after`` for the ranges), then the two timestamps are converted together
    (:func:`with_epoch_ms`), then ``_reason`` picks the first rule broken.
    """
    F = api(raw).F
    before = F.when(F.col("_corrupt"), F.lit("not a JSON object of the right types"))
    for name in REQUIRED:
        before = before.when(F.col(name).isNull(), F.lit(f"missing {name}"))
    for name in NON_EMPTY:
        before = before.when(F.col(name) == "", F.lit(f"empty {name}"))
    # equalities, not isin: DuckDB plans an IN list as a join
    known = F.lit(False)
    for t in TYPES:
        known = known | (F.col("type") == t)
    before = before.when(~known, F.lit("unknown type"))
    after = F.lit(None).cast("string")
    for name, rule in ARRAY_RULES.items():
        after = F.when(F.col(name).isNotNull() & F.expr(rule), F.lit(f"{name} out of range")).otherwise(after)
    for name, (lo, hi) in reversed(RANGES.items()):
        after = F.when(F.col(name).isNotNull() & ~F.col(name).between(lo, hi), F.lit(f"{name} out of range")).otherwise(
            after
        )
    df = raw.select(
        *[F.col(c) for c in KEPT],
        F.col("day"),
        F.col("timestamp"),
        F.col("received_at"),
        before.alias("_before"),
        F.col("received_at").endswith("Z").alias("_received_z"),
        after.alias("_after"),
        normalise_url(F.col("current_page"), F).alias("page"),
        viewport_class(F.col("viewport_w"), F).alias("viewport_class"),
        device_type_column(F).alias("device_type"),
    )
    keep = [*KEPT, "day", "page", "viewport_class", "device_type", "_before", "_received_z", "_after"]
    df = with_epoch_ms(stage(df), {"timestamp": "ts_ms", "received_at": "received_ms"}, keep)
    reason = (
        F.when(F.col("_before").isNotNull(), F.col("_before"))
        .when(~F.col("ts_ms_ok"), F.lit("bad timestamp"))
        .when(~F.col("received_ms_ok") | ~F.col("_received_z"), F.lit("bad received_at"))
        .otherwise(F.col("_after"))
    )
    return df.select(
        *[F.col(c) for c in KEPT],
        F.col("ts_ms"),
        F.col("received_ms"),
        F.col("day"),
        F.col("page"),
        F.col("viewport_class"),
        F.col("device_type"),
        reason.alias("_reason"),
    )


REPEAT_KEY = ("token", "day", "event_id")
REPEAT_ORDER = ("received_ms", "ts_ms", "type", "current_page", "load_count", "spent_milli_sec")


def _numbered_copies(events: Any) -> tuple[Any, Any]:
    """(the repeated keys, the rows that have one numbered ``_n`` from 1 in ``REPEAT_ORDER``)."""
    a = api(events)
    F, W = a.F, a.Window
    key = list(REPEAT_KEY)
    repeated = events.groupBy(*key).agg(F.count(F.lit(1)).alias("_copies")).filter(F.col("_copies") > 1).select(*key)
    order = W.partitionBy(*key).orderBy(*REPEAT_ORDER)
    return repeated, events.join(repeated, key, "left_semi").withColumn("_n", F.row_number().over(order))


def dedupe(events: Any) -> Any:
    """Keep the first received copy of each ``(token, day, event_id)`` (keys are never null here).

    The same rows as a ``row_number()`` window over every event, but only the few repeated
    keys (about 2%) are sorted: events whose key occurs once pass through a hash anti-join,
    and the window runs on the copies alone.
    """
    F = api(events).F
    repeated, numbered = _numbered_copies(events)
    once = events.join(repeated, list(REPEAT_KEY), "left_anti")
    first = numbered.filter(F.col("_n") == 1).drop("_n")
    return once.unionByName(first).select(*events.columns)


def later_copies(events: Any, row: str) -> Any:
    """The ``row`` column of the copies :func:`dedupe` leaves out (every copy of a key but its
    first): with a row id, the unique events are the others, without storing them again."""
    F = api(events).F
    _, numbered = _numbered_copies(events)
    return numbered.filter(F.col("_n") > 1).select(row)
