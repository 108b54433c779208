"""The figures of each fault scenario and of the soak: checked, printed, and listed as a
table at the end of the pytest run (see conftest.py)."""

from __future__ import annotations

from tests.fault.loadgen import LoadGen
from tests.fault.stack import Stack

ROWS: list[dict] = []
NOTES: list[str] = []

COLUMNS = ("scenario", "sent", "acked", "stored", "missing", "dup_lines", "objects", "202", "503", "429", "conn_err")
COLUMNS += ("resent", "dups_answered")


def account(stack: Stack, load: LoadGen, scenario: str, **extra) -> dict:
    """Compare the ids in storage with the ids that got a 202; record the row; assert
    nothing acknowledged is missing and nothing is stored twice."""
    stored = stack.stored()
    missing = load.acked - stored.ids.keys()
    never_sent = stored.ids.keys() - load.sent
    row = {
        "scenario": scenario,
        "sent": len(load.sent),
        "acked": len(load.acked),
        "stored": len(stored.ids),
        "missing": len(missing),
        "dup_lines": stored.lines - len(stored.ids),
        "objects": stored.objects,
        "202": load.statuses[202],
        "503": load.statuses[503],
        "429": load.statuses[429],
        "conn_err": load.statuses["conn-error"],
        "resent": load.resent_batches,
        "dups_answered": load.server_duplicates,
        **extra,
    }
    ROWS.append(row)
    print(line(row))
    assert not load.errors, load.errors
    assert not [s for s in load.statuses if isinstance(s, int) and s >= 500 and s != 503], load.statuses
    assert load.acked == load.sent, "the load generator drained, so every event sent was acknowledged"
    assert not missing, f"{len(missing)} acknowledged events are not stored, e.g. {sorted(missing)[:5]}"
    assert row["dup_lines"] == 0, [i for i, n in stored.ids.items() if n > 1][:5]
    assert not never_sent, sorted(never_sent)[:5]
    assert not stored.bad_names, stored.bad_names
    assert stack.queue_state() == (0, 0)
    return row


def line(row: dict) -> str:
    main = " ".join(f"{k}={row[k]}" for k in COLUMNS if k in row)
    rest = " ".join(f"{k}={v}" for k, v in row.items() if k not in COLUMNS)
    return f"[fault] {main} | {rest}"


def table() -> list[str]:
    if not ROWS:
        return []
    out = ["| " + " | ".join(COLUMNS) + " | other figures |", "|" + "---|" * (len(COLUMNS) + 1)]
    for row in ROWS:
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k not in COLUMNS)
        out.append("| " + " | ".join(str(row.get(k, "")) for k in COLUMNS) + f" | {rest} |")
    return out
