"""A generator of realistic raw event objects, for tests and the benchmark.

Visitors of a few sites (tokens) browse over several days on phones, tablets and
desktops: page views, clicks (some rage clicks; on interactive elements or not, some dead),
page leaves with time on page, scroll depth and attention per tenth of the page, pointer
movement (``move`` events with ``points``), custom events, experiment exposures and
conversions, and a few bots.
:func:`write_objects` stores them in the raw layout (``YYYY-MM-DD/<sha256>.jsonl``)
through any store with ``put(key, bytes)``, adding repeats and bad lines on request.

Deterministic for a given seed. Not used at run time.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from logdig.sources import classify

SITE = "https://shop.example"
PAGES = ["/", "/products", "/products/42", "/pricing", "/signup", "/signup/done", "/blog/launch"]
VIEWPORTS = [(375, 667), (414, 896), (820, 1180), (768, 1024), (1280, 800), (1440, 900), (1920, 1080)]
SELECTORS = ["#buy", "nav > a.home", "button.signup", "a.more", "div.card:nth-child(2)", "footer a"]
REFERRERS = [None, None, "https://www.google.com/search?q=shop", "https://news.example/item?id=7", ""]
ZONES = [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))]
EXPERIMENT = "new_button"
VARIANTS = ("control", "green")
# (browser, os, device) as the collector's user-agent parser names them, and the user agent
# (shortened), per viewport kind
AGENTS = {
    "mobile": [
        ("Mobile Safari", "iOS", "iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"),
        ("Chrome Mobile", "Android", "Samsung SM-S911B", "Mozilla/5.0 (Linux; Android 14; SM-S911B) Mobile Safari"),
    ],
    "tablet": [
        ("Mobile Safari", "iOS", "iPad", "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Mobile/15E148"),
        ("Chrome", "Android", "Generic Tablet", "Mozilla/5.0 (Linux; Android 13; SM-X700) Safari/537.36"),
    ],
    "desktop": [
        ("Chrome", "Windows", "Other", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"),
        ("Firefox", "Linux", "Other", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0"),
        ("Safari", "Mac OS X", "Mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15"),
    ],
}
# a visitor's campaign link (added to the first page's URL when it has no query) and country;
# drawn from their own random stream, so the other fields stay what they were
CAMPAIGNS = [
    None,
    None,
    None,
    "?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
    "?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=shoes&utm_content=ad1",
    "?utm_source=facebook&utm_medium=social&utm_campaign=launch",
]
COUNTRIES = ["DE", "US", "US", "FR", "JP", "BR", None]
BOT_AGENT = ("Googlebot", "Other", "Spider", "Mozilla/5.0 (compatible; Googlebot/2.1)")
# the clicked element's text per selector (the tracker's `text`); "" for an element without text
TEXTS = {"#buy": "Buy now", "nav > a.home": "Home", "button.signup": "Sign up", "a.more": "Read more", "footer a": ""}
NOT_INTERACTIVE = {"div.card:nth-child(2)"}  # a click there is on plain content: often dead
MOVE_SHARE = 0.1  # move events' share of all events
MOVE_POINTS = 12  # samples per move event (the tracker sends at most 300)
GRID_COLUMNS = 50  # analysis.jobs.heatmap.GRID_COLUMNS

# Lines a broken client or a hand-edited file might leave; each must be skipped.
BAD_LINES = [
    "this is not json",
    '{"truncated": ',
    "[1, 2, 3]",
    '"just a string"',
]


@dataclass(frozen=True)
class Dataset:
    events: list[dict]
    keys: list[str]
    duplicates: int
    bad: int


def _iso(dt: datetime, style: int) -> str:
    if style == 0:
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    local = dt.astimezone(ZONES[style % len(ZONES)])
    if style == 1:
        return local.isoformat(timespec="milliseconds")
    return local.strftime("%Y-%m-%dT%H:%M:%S%z")  # no fraction, offset without ':'


def _received(dt: datetime, delay_ms: int) -> str:
    r = (dt + timedelta(milliseconds=delay_ms)).astimezone(UTC)
    return r.strftime("%Y-%m-%dT%H:%M:%S.") + f"{r.microsecond // 1000:03d}Z"


def generate_events(
    days: list[str],
    tokens: list[str],
    users_per_day: int = 50,
    seed: int = 7,
    move_share: float = MOVE_SHARE,
    move_points: int = MOVE_POINTS,
) -> list[dict]:
    """Events for ``users_per_day`` visitors per token and day, as the collector stores them.

    ``move_share`` of the events are ``move`` events of ``move_points`` samples each. The
    movement, the clicks' ``interactive``/``dead`` and the leaves' ``attention`` draw from a
    random stream of their own, so the other events are the same whatever ``move_share`` is
    (the benchmark times the same clicks with and without movement).
    """
    rnd = random.Random(seed)
    extra = random.Random(seed * 7919 + 2)  # movement, dead clicks, attention
    moves_per_event = move_share / (1 - move_share) if move_share < 1 else 0.0
    where = random.Random(seed * 7919 + 1)  # campaigns and countries
    events: list[dict] = []
    counter = 0

    def event(base: dict, etype: str, when: datetime, r: random.Random = rnd, **fields: object) -> None:
        nonlocal counter
        counter += 1
        style = r.randrange(3)
        e = {
            **base,
            "event_id": f"e{seed}-{counter}",
            "type": etype,
            "timestamp": _iso(when, style),
            "received_at": _received(when, r.randrange(20, 4000)),
            "link": None,
            "x": None,
            "y": None,
            "spent_milli_sec": 0,
        }
        e.update(fields)
        events.append(e)

    for day in days:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        for token in tokens:
            for u in range(users_per_day):
                user = f"{token[:3]}{day.replace('-', '')}u{u:05d}"
                vw, vh = rnd.choice(VIEWPORTS)
                bot = rnd.random() < 0.03
                kind = "mobile" if vw < 768 else "tablet" if vw < 1024 else "desktop"
                browser, os_, device, agent = BOT_AGENT if bot else rnd.choice(AGENTS[kind])
                base = {
                    "token": token,
                    "user_key": user,
                    "user_agent": agent,
                    "viewport_w": vw,
                    "viewport_h": vh,
                    "browser": browser,
                    "os": os_,
                    "device": device,
                    "bot": bot,
                }
                campaign = where.choice(CAMPAIGNS)
                base["country"] = where.choice(COUNTRIES)
                if rnd.random() < 0.02:  # stored before the collector parsed user agents (and sources)
                    for name in ("browser", "os", "device", "country"):
                        del base[name]
                t = start + timedelta(seconds=rnd.randrange(0, 86_000))
                variant = VARIANTS[rnd.randrange(2)]
                exposed = False
                path = _path(rnd)
                prev_url = rnd.choice(REFERRERS)
                for load, page in enumerate(path, start=1):
                    query = rnd.choice(["", "", "?utm_source=mail", "?q=shoes#top", "/"])
                    if load == 1 and campaign and query == "":
                        query = campaign
                    url = SITE + page + query
                    page_h = rnd.choice([1200, 2400, 5000])
                    common = {**base, "current_page": url, "load_count": load, "page_w": vw, "page_h": page_h}
                    if "country" in base:  # as the collector stores them (logdig/sources.py)
                        found = classify(url, prev_url)
                        common.update(channel=found.channel, **found.utm)
                    event(common, "pageview", t, referrer=prev_url)
                    if page == "/pricing" and not exposed:
                        exposed = True
                        event(common, "exposure", t + timedelta(milliseconds=5), name=EXPERIMENT, variant=variant)
                    spent = 0
                    before = len(events)
                    for _ in range(rnd.randrange(0, 5)):
                        spent += rnd.randrange(300, 20_000)
                        sel = rnd.choice(SELECTORS)
                        x = round(rnd.uniform(0, vw - 1), 1)
                        y = round(rnd.uniform(0, page_h - 1), 1)
                        link = SITE + rnd.choice(PAGES) if sel.startswith("a") else f"button;{sel};;;"
                        rage = rnd.random() < 0.05
                        event(
                            common,
                            "click",
                            t + timedelta(milliseconds=spent),
                            link=link,
                            x=x,
                            y=y,
                            spent_milli_sec=spent,
                            selector=sel,
                            rage=rage,
                            **({"text": TEXTS[sel]} if sel in TEXTS else {}),
                        )
                        interactive = sel not in NOT_INTERACTIVE
                        events[-1]["interactive"] = interactive
                        events[-1]["dead"] = extra.random() < (0.05 if interactive else 0.6)
                    if page == "/signup/done" or (exposed and variant == "green" and rnd.random() < 0.15):
                        spent += 50
                        event(
                            common, "custom", t + timedelta(milliseconds=spent), name="purchase", spent_milli_sec=spent
                        )
                    spent += rnd.randrange(1000, 90_000)
                    depth = rnd.choice([0, 10, 25, 50, 75, 100, 100, 33.3])
                    # one for the page view, one for the leave below
                    found = (len(events) - before + 2) * moves_per_event
                    for m in range(int(found) + (extra.random() < found % 1)):
                        at = spent * (m + 1) // (int(found) + 2)
                        points = _points(extra, move_points, vw, page_h, at)
                        when = t + timedelta(milliseconds=at)
                        event(common, "move", when, extra, spent_milli_sec=at, points=points)
                        counter -= 1  # the other events keep their ids
                        events[-1]["event_id"] = f"m{seed}-{len(events)}"
                    event(
                        common,
                        "pageleave",
                        t + timedelta(milliseconds=spent),
                        spent_milli_sec=spent,
                        scroll_depth=depth,
                    )
                    events[-1]["attention"] = _attention(extra, spent, depth)
                    t += timedelta(milliseconds=spent + rnd.randrange(100, 5000))
                    if rnd.random() < 0.1:
                        t += timedelta(minutes=45)  # a new visit
                    prev_url = url
    return events


def _points(rnd: random.Random, n: int, vw: int, page_h: int, at: int) -> list[list[float]]:
    """``n`` pointer samples [x, y, ms] in page pixels: a walk that lingers near the top and
    around a hot spot (a third of the way across, a fifth down)."""
    x, y = rnd.uniform(0, vw - 1), rnd.uniform(0, min(page_h, 900) - 1)
    if rnd.random() < 0.5:
        x, y = vw / 3 + rnd.gauss(0, 40), page_h / 5 + rnd.gauss(0, 40)
    out = []
    for i in range(n):
        x = min(max(x + rnd.gauss(0, 25), 0), vw - 1)
        y = min(max(y + rnd.gauss(0, 25), 0), page_h - 1)
        out.append([round(x, 1), round(y, 1), at + 100 * i])
    return out


def _attention(rnd: random.Random, spent: int, depth: float) -> list[int]:
    """Milliseconds per tenth of the page in view: the top most, none past the scroll depth."""
    reached = max(1, int(depth // 10) + 1)
    weights = [(10 - i) * rnd.uniform(0.5, 1.5) if i < reached else 0 for i in range(10)]
    total = sum(weights)
    return [int(spent * w / total) for w in weights]


def _path(rnd: random.Random) -> list[str]:
    """A visitor's pages: most browse; some walk the sign-up funnel part way."""
    if rnd.random() < 0.5:
        funnel = ["/", "/pricing", "/signup", "/signup/done"]
        return funnel[: rnd.randrange(1, len(funnel) + 1)]
    return [rnd.choice(PAGES) for _ in range(rnd.randrange(1, 6))]


def _day_of(e: dict) -> str:
    return str(e.get("received_at", ""))[:10]


def write_objects(
    store,
    events: list[dict],
    batch: int = 500,
    duplicate_rate: float = 0.0,
    bad_per_object: int = 0,
    seed: int = 7,
) -> Dataset:
    """Write ``events`` as raw objects by receive day; return what was written.

    ``duplicate_rate`` of the events are stored a second time in another object of the
    same day (at-least-once delivery). ``bad_per_object`` bad lines go into each object,
    cycling through malformed JSON, missing and mistyped fields and bad values.
    """
    rnd = random.Random(seed)
    by_day: dict[str, list[str]] = defaultdict(list)
    dups = 0
    for e in events:
        line = json.dumps(e, separators=(",", ":"), ensure_ascii=False)
        by_day[_day_of(e)].append(line)
        if duplicate_rate and rnd.random() < duplicate_rate:
            by_day[_day_of(e)].append(line)
            dups += 1
    bad_total = 0
    keys: list[str] = []
    for day in sorted(by_day):
        lines = by_day[day]
        rnd.shuffle(lines)
        for i in range(0, len(lines), batch):
            chunk = lines[i : i + batch]
            if bad_per_object:
                template = json.loads(chunk[0])
                for j in range(bad_per_object):
                    chunk.insert(rnd.randrange(len(chunk) + 1), bad_line(template, bad_total + j))
                bad_total += bad_per_object
            data = ("\n".join(chunk) + "\n").encode("utf-8")
            key = f"{day}/{hashlib.sha256(data).hexdigest()}.jsonl"
            store.put(key, data)
            keys.append(key)
    return Dataset(events=events, keys=keys, duplicates=dups, bad=bad_total)


def bad_line(template: dict, i: int) -> str:
    """The i-th kind of bad line, built from a good event so only one thing is wrong."""
    e = dict(template)
    e["event_id"] = f"bad{i}"
    kind = i % 12
    if kind < len(BAD_LINES):
        return BAD_LINES[kind]
    if kind == 4:
        del e["user_key"]
    elif kind == 5:
        e["x"] = "12px"
    elif kind == 6:
        e["load_count"] = 2.5
    elif kind == 7:
        e["type"] = "hover"
    elif kind == 8:
        e["timestamp"] = "yesterday at noon"
    elif kind == 9:
        e["spent_milli_sec"] = -5
    elif kind == 10:
        e["token"] = None
    else:
        e["bot"] = "no"
    return json.dumps(e)


def ab_click_grids(
    seed: int, clicks: int = 2000, planted: float = 0.0, rows: int = 60
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """Click grids (``{(col, row): clicks}``) of a control and a variant arm of one page, for
    the A/B heat-map tests and ``bench/bench_abheat.py``.

    Each arm's ``clicks`` land on the same page: a few hot elements (a button, a menu, a
    link list) over a thin spread of stray clicks. ``planted`` moves that share of the
    variant's clicks from the menu to a new button (columns 30-34, rows 20-24), the kind of
    change a variant makes; with ``planted=0`` both arms come from one distribution (A/A).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    spots = [((12, 8), 0.30, 1.5), ((40, 2), 0.20, 2.0), ((25, 40), 0.25, 4.0)]  # (centre, share, spread)
    planted_at = (32, 22)

    def arm(moved: float) -> dict[tuple[int, int], int]:
        shares = [share for _, share, _ in spots]
        which = rng.choice(len(spots) + 1, size=clicks, p=[*shares, 1 - sum(shares)])
        centre = np.array([c for c, _, _ in spots] + [(0, 0)], dtype=float)[which]
        spread = np.array([s for _, _, s in spots] + [0.0])[which]
        move = (which == 1) & (rng.random(clicks) < moved / spots[1][1])
        centre[move], spread[move] = planted_at, 1.0
        xy = rng.normal(centre, spread[:, None])
        stray = which == len(spots)
        xy[stray] = rng.uniform((0, 0), (GRID_COLUMNS, rows), size=(int(stray.sum()), 2))
        cells = np.clip(xy.astype(int), 0, (GRID_COLUMNS - 1, rows - 1))
        found, counts = np.unique(cells, axis=0, return_counts=True)
        return {(int(c), int(r)): int(n) for (c, r), n in zip(found, counts, strict=True)}

    return arm(0.0), arm(planted)
