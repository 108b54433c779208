"""Pipeline health: the queue, the flushes, rejections, objects per day, the sites.

Everything here is cheap: the queue's state and counters (two Redis round trips) and
the day reports the analysis writes (one small object per day). No raw object is
listed or read.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, render_template, request

from web.dashboard import results, timefmt
from web.dashboard.tables import Column, Table
from web.dashboard.views import Filters, filters, reader, sites

COUNTERS = (
    ("accepted", "Events accepted"),
    ("duplicates", "Repeats dropped (same event_id)"),
    ("flushes", "Batches flushed"),
    ("objects_written", "Objects written"),
    ("bytes_written", "Bytes written"),
    ("write_retries", "Storage writes retried"),
    ("flush_failures", "Flushes that gave up (events stay queued)"),
)
RATE_LIMITED = ("rate_limited",)  # the collector's reason for requests answered 429


def _collector_url() -> str:
    return request.host_url.rstrip("/")


def build_health(f: Filters) -> tuple[dict, dict[str, Table]]:
    ext = current_app.extensions["logdig"]
    queue = ext["queue"]
    state = queue.state()
    stats = queue.stats()
    now = datetime.fromtimestamp(ext["clock"](), UTC)
    age = (now - state.oldest_received_at).total_seconds() if state.oldest_received_at else None
    last_flush = queue.last_flush() if hasattr(queue, "last_flush") else None
    rejected = sorted(
        ({"reason": k.split(":", 1)[1], "count": v} for k, v in stats.items() if k.startswith("rejected:")),
        key=lambda r: (-r["count"], r["reason"]),
    )
    days = results.day_reports(reader(), f.days)
    bad = sorted({reason for d in days for reason in d["bad"]})
    base = _collector_url()
    from web.tracker import install_tag

    site_rows = [
        {
            "name": s.name,
            "token": s.token,
            "origins": " ".join(s.origins) or "any",
            "snippet": install_tag(s.token, src=f"{base}/clicktracker.js"),
        }
        for s in sites()
    ]
    tables = {
        "counters": Table(
            "counters",
            "Counters (since Redis was created)",
            [Column("name", "Counter"), Column("value", "Value", "int")],
            [{"name": label, "value": stats.get(key, 0)} for key, label in COUNTERS],
        ),
        "rejected": Table(
            "rejected",
            "Rejected events and requests, by reason",
            [Column("reason", "Reason"), Column("count", "Count", "int")],
            rejected,
            note="rate_limited: requests answered 429.",
        ),
        "days": Table(
            "days",
            "Objects per day",
            [
                Column("day", "Day"),
                Column("objects", "Objects", "int"),
                Column("bytes", "Bytes", "int"),
                Column("lines", "Events stored", "int"),
            ]
            + [Column(f"bad_{r}", f"Bad: {r}", "int") for r in bad]
            + [Column("analysed_at", "Analysed at")],
            [
                {
                    **d,
                    "analysed_at": timefmt.utc_text(d["analysed_at"]),
                    **{f"bad_{r}": d["bad"].get(r, 0) for r in bad},
                }
                for d in days
            ],
            note="From the analysis' day reports: what its last full run read.",
        ),
        "sites": Table(
            "sites",
            "Sites",
            [
                Column("name", "Name"),
                Column("token", "Token"),
                Column("origins", "Allowed origins"),
                Column("snippet", "Snippet to paste"),
            ],
            site_rows,
        ),
    }
    context = {
        "state": state,
        "age": age,
        "stats": stats,
        "last_flush": last_flush,
        "last_flush_at": timefmt.utc_text(last_flush["at"]) if last_flush else None,
        "last_flush_ago": timefmt.ago(last_flush["at"], now) if last_flush else None,
        "rate_limited": sum(stats.get(f"rejected:{r}", 0) for r in RATE_LIMITED),
        "flush_failures": stats.get("flush_failures", 0),
        "queue_max": ext["settings"].queue_max,
    }
    return context, tables


def read_commands(day: str) -> dict[str, str]:
    """How to read the raw events with Spark or DuckDB, for this deployment's storage."""
    settings = current_app.extensions["logdig"]["settings"]
    if settings.s3_endpoint:
        root, duck_root = f"s3a://{settings.s3_bucket}", f"s3://{settings.s3_bucket}"
        host = settings.s3_endpoint.split("://", 1)[-1].rstrip("/")
        ssl = "true" if settings.s3_endpoint.startswith("https") else "false"
        duck_setup = (
            "INSTALL httpfs; LOAD httpfs;\n"
            f"CREATE SECRET (TYPE s3, KEY_ID 'AWS_ACCESS_KEY_ID', SECRET 'AWS_SECRET_ACCESS_KEY', "
            f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL {ssl});\n"
        )
    else:
        root = duck_root = settings.data_dir.rstrip("/")
        duck_setup = ""
    return {
        "spark": f'df = spark.read.json("{root}/*/")\ndf.groupBy("type").count().show()',
        "spark_day": f'spark.read.json("{root}/{day}/")',
        "duckdb": f"{duck_setup}SELECT type, count(*) AS events\n"
        f"FROM read_json_auto('{duck_root}/*/*.jsonl', format = 'newline_delimited', union_by_name = true)\n"
        "GROUP BY type;",
    }


def page():
    f = filters()
    context, tables = build_health(f)
    commands = read_commands(f.end.isoformat())
    return render_template(
        "dashboard/health.html", view="health", f=f, sites=sites(), tables=tables, commands=commands, **context
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/health", "health", page)
