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
* ``day`` is the object's day folder, the UTC day of ``received_at``. Repeats are removed per
  ``(token, day, event_id)``, keeping the earliest received copy, so a day's result
  depends only on that day's objects.
"""

from __future__ import annotations

from typing import Any

from analysis.engines import api

# name -> kind; kinds: string, double, long, bool
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
    "browser": "string",
    "os": "string",
    "device": "string",
    "bot": "bool",
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
TYPES = ("click", "pageview", "pageleave", "custom", "exposure")
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

# Viewport classes: (name, smallest width in CSS px). Bootstrap's md and lg breakpoints.
VIEWPORT_CLASSES = (("mobile", 0), ("tablet", 768), ("desktop", 1024))

# ISO-8601 as the event schema allows it: seconds optional, offset with or without ':'.
# No capturing groups: a pure yes/no match is the regex engines' fast path; the parts are
# cut at fixed positions afterwards (see with_epoch_ms).
ISO_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$"

SPARK_TYPES = {"string": "StringType", "double": "DoubleType", "long": "LongType", "bool": "BooleanType"}
CORRUPT = "_corrupt_record"


def struct_type(T: Any, corrupt_column: bool = False) -> Any:
    """The read schema as a StructType of the given types module."""
    fields = [T.StructField(name, getattr(T, SPARK_TYPES[kind])(), True) for name, kind in FIELDS.items()]
    if corrupt_column:
        fields.append(T.StructField(CORRUPT, T.StringType(), True))
    return T.StructType(fields)


def _int(F: Any, col: Any) -> Any:
    # '0' + text: an empty part becomes 0 and nothing casts an empty string.
    return F.concat(F.lit("0"), col).cast("long")


def with_epoch_ms(df: Any, src: str, out: str) -> Any:
    """Add ``out`` (ms since 1970 UTC, null when invalid) and ``out + '_ok'`` for ISO column ``src``.

    Plain arithmetic (Howard Hinnant's days-from-civil), so both engines agree to the
    millisecond on every form the event schema allows. Done in steps so each part is
    computed once: check the form with one regular expression, cut the parts with plain
    string functions (the form is known by then, so every part is at a fixed place from
    the start or the end), then do the arithmetic.
    """
    F = api(df).F
    p = f"_{out}_"
    keep = [F.col(c) for c in df.columns]
    ok = F.col(src).rlike(ISO_RE)
    text = F.when(ok, F.col(src)).otherwise(F.lit("1970-01-01T00:00:00Z"))  # casts see only good forms
    df = df.select(*keep, ok.alias(p + "ok"), text.alias(p + "text"))

    t = F.col(p + "text")

    def at(pos: int, n: int = 2) -> Any:
        return _int(F, F.substring(t, pos, n))

    # the zone ends the text: 'Z', '+hh:mm' (':' third from the end) or '+hhmm'
    length = F.length(t)
    zone_len = (
        F.when(t.endswith("Z"), F.lit(1)).when(t.substr(length - 2, F.lit(1)) == ":", F.lit(6)).otherwise(F.lit(5))
    )
    zone = F.right(t, zone_len)
    # a fraction: '.' at 20 (after the seconds), its digits up to the zone; milliseconds are the first 3
    digits = F.least(length - 20 - zone_len, F.lit(3))
    frac = F.when(F.substring(t, 20, 1) == ".", F.rpad(t.substr(F.lit(21), digits), 3, "0")).otherwise(F.lit("000"))
    parts = {
        "y": at(1, 4),
        "mo": at(6),
        "d": at(9),
        "h": at(12),
        "mi": at(15),
        "s": F.when(F.substring(t, 17, 1) == ":", at(18)).otherwise(F.lit(0)),
        "frac": _int(F, frac),
        "zone": zone,
    }
    df = df.select(*keep, F.col(p + "ok"), *[v.alias(p + k) for k, v in parts.items()])

    def c(k: str) -> Any:
        return F.col(p + k)

    # Each intermediate below is its own column, computed once: written inline, the engines
    # would repeat the year and zone terms in every expression that uses them.
    z = c("zone")
    zmin = F.when(z == "Z", F.lit(0)).otherwise(_int(F, F.substring(z, 2, 2)) * 60 + _int(F, F.right(z, F.lit(2))))
    df = df.select(
        *keep,
        *[c(k) for k in ("ok", "mo", "d", "h", "mi", "s", "frac")],
        zmin.alias(p + "zmin"),
        (F.substring(z, 1, 1) == "-").alias(p + "west"),
        (c("y") - F.when(c("mo") <= 2, F.lit(1)).otherwise(F.lit(0))).cast("double").alias(p + "y2"),
    )
    y2, zmin = c("y2"), c("zmin")
    era = F.floor(y2 / 400)
    df = df.select(
        *keep,
        *[c(k) for k in ("d", "h", "mi", "s", "frac")],
        era.alias(p + "era"),
        (y2 - era * 400).alias(p + "yoe"),
        ((c("mo") + 9) % 12).cast("double").alias(p + "mp"),
        F.when(c("west"), -zmin).otherwise(zmin).alias(p + "offset_min"),
        (
            c("ok")
            & c("mo").between(1, 12)
            & c("d").between(1, 31)
            & (c("h") <= 23)
            & (c("mi") <= 59)
            & (c("s") <= 59)
            & (zmin <= 18 * 60)
        ).alias(p + "valid"),
    )
    yoe = c("yoe")
    doy = F.floor((c("mp") * 153 + 2) / 5) + c("d") - 1
    doe = yoe * 365 + F.floor(yoe / 4) - F.floor(yoe / 100) + doy
    days = c("era") * 146097 + doe - 719468
    seconds = ((days * 24 + c("h")) * 60 + c("mi")) * 60 + c("s")
    ms = (seconds * 1000 + c("frac") - c("offset_min") * 60000).cast("long")
    return df.select(*keep, F.when(c("valid"), ms).alias(out), c("valid").alias(out + "_ok"))


def normalise_url(col: Any, F: Any) -> Any:
    """Cut the query string and fragment, then trailing slashes (see module doc).

    Plain string functions; the one regular expression runs only on URLs ending in '/'.
    """
    base = F.split_part(F.split_part(col, F.lit("?"), F.lit(1)), F.lit("#"), F.lit(1))
    trimmed = F.when(base.endswith("/"), F.regexp_replace(base, r"/+$", "")).otherwise(base)
    return F.when(trimmed == "", base).otherwise(trimmed)


def viewport_class(col: Any, F: Any) -> Any:
    expr = F.when(col.isNull(), F.lit("unknown"))
    for name, smallest in reversed(VIEWPORT_CLASSES):
        expr = expr.when(col >= smallest, F.lit(name))
    return expr.otherwise(F.lit("unknown"))


def check(raw: Any) -> Any:
    """Add ``_reason`` (null for a good row) and the derived columns to raw typed rows.

    ``raw`` carries ``day`` (the object's day folder) and ``_corrupt`` from ``analysis.io``.
    Derived: ``ts_ms`` (client time, ms UTC), ``received_ms``, ``page`` (normalised URL) and ``viewport_class``.
    """
    F = api(raw).F
    df = raw.select(*[F.col(c) for c in FIELDS], F.col("day"), F.col("_corrupt"))
    df = with_epoch_ms(df, "timestamp", "ts_ms")
    df = with_epoch_ms(df, "received_at", "received_ms")
    reason = F.when(F.col("_corrupt"), F.lit("not a JSON object of the right types"))
    for name in REQUIRED:
        reason = reason.when(F.col(name).isNull(), F.lit(f"missing {name}"))
    for name in NON_EMPTY:
        reason = reason.when(F.col(name) == "", F.lit(f"empty {name}"))
    reason = reason.when(~F.col("type").isin(*TYPES), F.lit("unknown type"))
    reason = reason.when(~F.col("ts_ms_ok"), F.lit("bad timestamp"))
    reason = reason.when(~F.col("received_ms_ok") | ~F.col("received_at").endswith("Z"), F.lit("bad received_at"))
    for name, (lo, hi) in RANGES.items():
        reason = reason.when(F.col(name).isNotNull() & ~F.col(name).between(lo, hi), F.lit(f"{name} out of range"))
    return df.select(
        *[F.col(c) for c in FIELDS],
        F.col("ts_ms"),
        F.col("received_ms"),
        F.col("day"),
        normalise_url(F.col("current_page"), F).alias("page"),
        viewport_class(F.col("viewport_w"), F).alias("viewport_class"),
        reason.alias("_reason"),
    )


REPEAT_KEY = ("token", "day", "event_id")
REPEAT_ORDER = ("received_ms", "ts_ms", "type", "current_page", "load_count", "spent_milli_sec")


def dedupe(events: Any) -> Any:
    """Keep the first received copy of each ``(token, day, event_id)`` (keys are never null here).

    The same rows as a ``row_number()`` window over every event, but only the few repeated
    keys (about 2%) are sorted: events whose key occurs once pass through a hash anti-join,
    and the window runs on the copies alone.
    """
    a = api(events)
    F, W = a.F, a.Window
    key = list(REPEAT_KEY)
    repeated = events.groupBy(*key).agg(F.count(F.lit(1)).alias("_copies")).filter(F.col("_copies") > 1).select(*key)
    once = events.join(repeated, key, "left_anti")
    order = W.partitionBy(*key).orderBy(*REPEAT_ORDER)
    first = (
        events.join(repeated, key, "left_semi")
        .withColumn("_n", F.row_number().over(order))
        .filter(F.col("_n") == 1)
        .drop("_n")
    )
    return once.unionByName(first).select(*events.columns)
