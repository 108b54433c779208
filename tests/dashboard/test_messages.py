"""What the dashboard says, without a browser: Flask's test client on a real redis-server,
over results the real analysis (DuckDB) computed from raw objects written here.

The visits are hand-built so every expected number is known: a funnel typed with the
address bar's trailing slash, a step that never matches, an experiment, one visitor who
follows a link once, rage clicks on a phone only, Windows and Mac desktops.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from analysis.definitions import Definitions, parse_experiment, parse_funnel
from logdig.config import Settings
from logdig.queue import Sites, connect
from logdig.storage import LocalStore
from web import create_app

PASSWORD = "messages test password"
CLIENT = {"REMOTE_ADDR": "192.0.2.13"}  # its own login rate limit
DAY = "2026-11-25"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SITE = "https://shop.example"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


class Events:
    """Raw events as the collector stores them (server fields included)."""

    def __init__(self, token: str):
        self.token, self.items, self.n = token, [], 0

    def add(self, user: str, type_: str, page: str, second: int, ua: str = WINDOWS, **fields) -> None:
        from logdig.events import user_agent

        self.n += 1
        at = (NOW - timedelta(hours=2) + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        event = {
            "event_id": f"e{self.n}",
            "token": self.token,
            "user_key": user,
            "type": type_,
            "timestamp": at,
            "received_at": at,
            "current_page": page,
            "link": None,
            "x": None,
            "y": None,
            "spent_milli_sec": 0,
            "user_agent": ua,
            "load_count": 1,
            **user_agent(ua),
        }
        event.update(fields)
        self.items.append(event)

    def write(self, store: LocalStore) -> None:
        body = "".join(json.dumps(e) + "\n" for e in self.items).encode()
        store.put(f"{DAY}/{hashlib.sha256(body).hexdigest()}.jsonl", body)


def visits(token: str) -> Events:
    ev = Events(token)
    # the funnel: /demo/ then /demo/spa/ (as the address bar shows them)
    for i, user in enumerate(("u1", "u2", "u3")):
        ev.add(user, "pageview", f"{SITE}/demo/", 10 * i, viewport_w=1280)
        ev.add(user, "exposure", f"{SITE}/demo/", 10 * i, name="hero", variant="control" if i else "bold")
    ev.add("u1", "pageview", f"{SITE}/demo/spa/", 100, viewport_w=1280)
    # one visitor follows one link once
    ev.add("u2", "click", f"{SITE}/demo/", 200, ua=MAC, link=f"{SITE}/demo/products.html", x=10.0, y=20.0,
           viewport_w=1280, selector="#nav-products", text="Products")  # fmt: skip
    # rage clicks on a phone only
    for k in range(4):
        ev.add("u3", "click", f"{SITE}/demo/", 300 + k, ua=IPHONE, link="button;primary;buy;buy;", x=50.0, y=60.0,
               viewport_w=390, selector="body>main:nth-child(2)>button", text="Buy now", rage=k >= 2)  # fmt: skip
    ev.add("u2", "pageview", f"{SITE}/demo/products.html", 210, ua=MAC, viewport_w=1280)
    return ev


@pytest.fixture(scope="module")
def site(redis_server, tmp_path_factory):
    from analysis.engines import duckdb_engine
    from analysis.run import analyze

    redis = connect(redis_server)
    redis.flushall()
    token = Sites(redis).create("shop").token
    defs = Definitions(redis)
    defs.put("funnel", parse_funnel({"name": "spa", "steps": ["url:*/demo/", "url:*/demo/spa/"], "token": token}))
    defs.put("funnel", parse_funnel({"name": "typo", "steps": ["url:*/demo/", "url:*/chekout"], "token": token}))
    defs.put("experiment", parse_experiment({"name": "hero", "goal": "url:*/demo/products.html", "token": token}))
    root = tmp_path_factory.mktemp("messages-data")
    store = LocalStore(root)
    visits(token).write(store)
    settings = Settings(redis_url=redis_server, data_dir=str(root), admin_password=PASSWORD)
    engine = duckdb_engine()
    try:
        analyze(engine, settings, store, [DAY], funnels=defs.funnels(), experiments=defs.experiments())
    finally:
        engine.close()
    app = create_app(settings, redis=redis, store=store, clock=NOW.timestamp)
    app.config["LOGDIG_COOKIE_SECURE"] = False
    yield app, token, store
    redis.flushall()


@pytest.fixture
def client(site):
    return login(site[0])


def login(app):
    c = app.test_client()
    login = c.get("/dashboard/login", environ_base=CLIENT)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    answer = c.post("/dashboard/login", data={"password": PASSWORD, "csrf_token": csrf}, environ_base=CLIENT)
    assert answer.status_code == 302, answer.text
    return c


def get(client, path: str, **args) -> str:
    answer = client.get(path, query_string=args, environ_base=CLIENT)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def text_of(html: str) -> str:
    """The page's text with tags dropped and white space squeezed."""
    import html as html_lib

    text = re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html)))
    return re.sub(r" ([).,:])", r"\1", text)  # "<span>2</span>)" reads "2)"


# ---------------------------------------------------------------- item 4: funnel steps


def test_a_funnel_typed_with_the_trailing_slash_matches_and_a_dead_step_is_named(site, client):
    _app, token, _store = site
    page = text_of(get(client, "/dashboard/definitions", token=token, **{"from": DAY, "to": DAY}))
    spa = page[page.index("Funnel spa") :]
    # step 1: three users on /demo/, step 2: u1 on /demo/spa/ (typed with its slash)
    assert re.search(r"2 url \*/demo/spa 1 ", spa), spa[:300]
    assert "Step 2 (url */chekout) matched nothing in this range" in page
    assert "Step 2 (url */demo/spa) matched nothing" not in page


def section(html: str, name: str) -> str:
    """The text of the table section ``name``."""
    start = html.index(f'id="table-{name}"')
    return text_of(html[start : html.index("</section>", start)])


# ---------------------------------------------------------------- item 5: counts and labels


def test_a_link_followed_once_by_one_visitor_shows_one_user_and_its_text(site, client):
    _app, token, _store = site
    html = get(client, "/dashboard/", token=token, **{"from": DAY, "to": DAY})
    links = section(html, "links")
    assert f"Products {SITE}/demo/products.html 1 1" in links, links
    assert "Buy now button;primary;buy;buy; 4 1" in links, links


def test_rage_clicks_are_counted_per_viewport_class(site, client):
    _app, token, _store = site
    args = {"token": token, "from": DAY, "to": DAY, "page": f"{SITE}/demo"}
    desktop = text_of(get(client, "/dashboard/page", vc="desktop", **args))
    mobile = text_of(get(client, "/dashboard/page", vc="mobile", **args))
    # the two rage clicks came from the phone; the desktop view said "Rage clicks on this page: 2"
    assert "Rage clicks in the desktop view: 0 (all views: 2)" in desktop
    assert "Rage clicks in the mobile view: 2 (all views: 2)" in mobile


def test_the_click_map_and_page_links_show_the_elements_text_first(site, client):
    _app, token, _store = site
    html = get(client, "/dashboard/page", token=token, page=f"{SITE}/demo", **{"from": DAY, "to": DAY})
    assert "Buy now body>main:nth-child(2)>button 4 1 2" in section(html, "click_map")
    assert "Products #nav-products 1 1 0" in section(html, "click_map")
    assert "Buy now button;primary;buy;buy; 4" in section(html, "links")


def test_devices_show_their_type_beside_the_model(site, client):
    _app, token, _store = site
    devices = section(get(client, "/dashboard/", token=token, **{"from": DAY, "to": DAY}), "agents_device")
    # every visitor loaded a page on Windows ("Other"); u2 also on a Mac, u3 on an iPhone
    assert "Type Model Users" in devices, devices
    for row in ("desktop Other 3", "desktop Mac 1", "mobile iPhone 1"):
        assert row in devices, devices


# ---------------------------------------------------------------- item 7: messages


def test_a_range_cut_to_92_days_says_so(site, client):
    _app, token, _store = site
    page = text_of(get(client, "/dashboard/", token=token, **{"from": "2020-01-01", "to": DAY}))
    assert (
        "Showing the last 92 days of the range you asked for: 2026-08-26 to 2026-11-25 "
        "(you asked for 2020-01-01 to 2026-11-25)." in page
    ), page[:600]


def test_a_range_into_the_future_ends_today_and_says_so(site, client):
    _app, token, _store = site
    page = text_of(get(client, "/dashboard/", token=token, **{"from": "2026-11-20", "to": "2027-01-01"}))
    assert "The range ends today (2026-11-25, UTC)" in page
    assert 'value="2026-11-25"' in get(client, "/dashboard/", token=token, **{"from": "2026-11-20", "to": "2027-01-01"})


@pytest.fixture
def empty_site(redis_server, tmp_path):
    """A site with no results at all; day reports are written by each test."""
    redis = connect(redis_server)
    token = Sites(redis).create("empty").token
    settings = Settings(redis_url=redis_server, data_dir=str(tmp_path), admin_password=PASSWORD, analyze_interval=900)
    store = LocalStore(tmp_path)

    def app():  # a new app each time: its reader caches result documents
        made = create_app(settings, redis=redis, store=store, clock=NOW.timestamp)
        made.config["LOGDIG_COOKIE_SECURE"] = False
        return made

    def last_run(at: datetime) -> None:
        report = {"day": DAY, "objects": [], "generated_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        store.put(f"results/_days/all/{DAY}.json", json.dumps(report).encode())

    yield app, token, last_run
    Sites(redis).delete(token)


def test_no_results_say_when_the_analysis_next_runs(empty_site):
    app, token, last_run = empty_site
    # nothing recorded: the interval is all we know
    page = text_of(get(login(app()), "/dashboard/", token=token))
    assert (
        "No analysis results for this range yet. The scheduled analysis runs every 15 min: its next run is within 15 min."
        in page
    )
    assert "every few minutes" not in page
    # the last run 5 minutes ago: the next one in 10
    last_run(NOW - timedelta(minutes=5))
    page = text_of(get(login(app()), "/dashboard/", token=token))
    assert "the last run was at 2026-11-25 11:55:00 UTC, so the next is at 12:10:00 UTC (in 10 min)." in page
    # a little late (a run is stamped when it ends): due now, nothing to check yet
    last_run(NOW - timedelta(minutes=16))
    page = text_of(get(login(app()), "/dashboard/", token=token))
    assert "the next run is due now (it was due at 11:59:00 UTC, 60 s ago)." in page
    assert "check that" not in page
    # overdue by more than an interval: say so, and what to check
    last_run(NOW - timedelta(hours=1))
    page = text_of(get(login(app()), "/dashboard/", token=token))
    assert "it was due at 2026-11-25 11:15:00 UTC (45 min ago)" in page
    assert "check that logdig scheduler and logdig worker run" in page


def test_an_unknown_token_and_a_future_range_say_what_is_wrong_and_when_the_next_run_is(empty_site):
    app, token, last_run = empty_site
    last_run(NOW - timedelta(minutes=5))
    client = login(app())
    page = text_of(get(client, "/dashboard/", token="no-such-token"))
    assert "No site has the token 'no-such-token': pick a site above." in page
    assert "the next is at 12:10:00 UTC (in 10 min)" in page
    page = text_of(get(client, "/dashboard/", token=token, **{"from": "2030-01-01", "to": "2030-01-02"}))
    assert "This range is after today (2026-11-25, UTC), so it has no events yet." in page
    assert "the next is at 12:10:00 UTC (in 10 min)" in page


def test_the_last_flush_is_a_readable_time_and_how_long_ago(site, client):
    from logdig.queue import EventQueue

    app, _token, _store = site
    at = NOW - timedelta(seconds=42, microseconds=239881)
    EventQueue(app.extensions["logdig"]["redis"]).record_flush(at, "no object written (queue empty)", ok=True)
    html = get(client, "/dashboard/health")
    card = text_of(html[html.index("Last flush") : html.index("</div>", html.index("Last flush"))]).strip()
    assert card == "Last flush 42 s ago 2026-11-25 11:59:17 UTC no object written (queue empty)", card
    assert "239881" not in html and "+00:00" not in html


FUNNEL_FORM = {"kind": "funnel", "name": "bad name!", "steps": "url:*/a\nclick:/b\nurl:?x", "window_seconds": "0"}
EXPERIMENT_FORM = {"kind": "experiment", "name": "ok_name", "goal": "", "control": "control", "weights": "green=half"}
# "²".isdigit() is true but int("²") fails, and int() refuses 4,300 digits: both were a 500
DIGIT_FORM = {"kind": "funnel", "name": "ok_name", "steps": "url:*/a\nurl:*/b", "window_seconds": "\u00b2"}


@pytest.mark.parametrize(
    "form, errors",
    [
        (
            FUNNEL_FORM,
            {
                "name": "name must be 1-64 characters",
                "steps": "step 2 must look like url:PATTERN or event:NAME, got 'click:/b'; step 3: the url pattern '?x'",
                "window_seconds": "window_seconds must be a whole number from 1 to 2678400, got 0",
            },
        ),
        (
            EXPERIMENT_FORM,
            {
                "goal": "goal must look like url:PATTERN or event:NAME",
                "weights": "weights: 'green=half' is not NAME=SHARE",
            },
        ),
        (DIGIT_FORM, {"window_seconds": "window_seconds must be a whole number from 1 to 2678400, got '\u00b2'"}),
        ({**DIGIT_FORM, "window_seconds": "9" * 5000}, {"window_seconds": "window_seconds must be a whole number"}),
    ],
    ids=["funnel", "experiment", "superscript-window", "5000-digit-window"],
)
def test_a_refused_form_shows_every_error_beside_its_field_and_keeps_the_input(site, client, form, errors):
    import html as html_lib

    app, token, _store = site
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', get(client, "/dashboard/definitions", token=token)).group(1)
    answer = client.post(
        "/dashboard/definitions/add",
        data={**form, "token": token, "scope": "site", "csrf_token": csrf},
        environ_base=CLIENT,
    )
    assert answer.status_code == 400
    page = answer.text
    kind = form["kind"]
    shown = {m.group(1): html_lib.unescape(m.group(2)) for m in re.finditer(rf'id="error-{kind}-(\w+)">([^<]*)<', page)}
    assert shown.keys() == errors.keys(), shown
    for field, start in errors.items():
        assert shown[field].startswith(start), (field, shown[field])
    # what was typed is still in the form
    typed = page[page.index(f'id="add-{kind}"') :]
    for field, value in form.items():
        if field == "steps":
            assert f">{html_lib.escape(value)}</textarea>" in typed
        elif field != "kind":
            assert f'name="{field}"' in typed and f'value="{html_lib.escape(value)}"' in typed, field
    assert "Not saved" in page
    assert Definitions(app.extensions["logdig"]["redis"]).all(kind) == [
        d for d in Definitions(app.extensions["logdig"]["redis"]).all(kind) if d.name != form["name"]
    ]


def test_without_a_site_asked_the_dashboard_opens_one_with_results_then_the_last_one_viewed(site, client):
    """A newcomer's dashboard opened on 'demo' (first by name, no results) although their own
    site had data. Now: the last site viewed in this session, else the first with results."""
    app, token, _ = site
    sites = Sites(app.extensions["logdig"]["redis"])
    empty = sites.create("aaa-empty").token  # first by name, no results
    selected = r'<option value="([^"]+)" selected>'
    try:
        assert re.search(selected, get(client, "/dashboard/", **{"from": DAY, "to": DAY})).group(1) == token
        get(client, "/dashboard/", token=empty, **{"from": DAY, "to": DAY})
        assert re.search(selected, get(client, "/dashboard/", **{"from": DAY, "to": DAY})).group(1) == empty
    finally:
        sites.delete(empty)


def test_results_of_the_wrong_shape_are_named_not_a_500(site, client):
    """A result file that is an object but whose fields are not what the analysis writes (hand
    edited, another tool's, corrupted): the views say so and how to write them again."""
    app, token, store = site
    keys = {job: f"results/{job}/{token}/{DAY}.json" for job in ("heatmap", "experiments", "funnels")}
    kept = {job: store.get(key) for job, key in keys.items()}
    bad = {"heatmap": {"grid": "abc", "click_map": 7}, "experiments": {"experiments": [{"variants": 3}]}}
    bad["funnels"] = {"funnels": [{"steps": "x"}]}
    try:
        for job, data in bad.items():
            store.put(keys[job], json.dumps({**json.loads(kept[job]), "data": data}).encode())
        app.extensions.get("logdig_dashboard") and app.extensions["logdig_dashboard"]._cache.clear()
        args = {"token": token, "from": DAY, "to": DAY}
        for path, extra in (("/dashboard/page", {"page": f"{SITE}/demo"}), ("/dashboard/definitions", {})):
            answer = client.get(path, query_string={**args, **extra}, environ_base=CLIENT)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            assert "not in the shape this version writes" in text_of(answer.text), path
            assert f"logdig analyze --from {DAY} --to {DAY} --token {token}" in text_of(answer.text), path
        # the overlay's data (public, CORS): a JSON refusal naming the results, not a 500
        from logdig.queue import shared_secret
        from web.dashboard import overlay

        secret = shared_secret(app.extensions["logdig"]["redis"])
        sig = overlay.sign(secret, token, f"{SITE}/demo", DAY, DAY, NOW.timestamp())
        answer = app.test_client().get("/overlay/data", query_string={"sig": sig})
        assert answer.status_code == 409 and answer.json["field"] == "results", answer.text[:300]
        assert "not in the shape this version writes" in answer.json["error"], answer.json
    finally:
        for job, body in kept.items():
            store.put(keys[job], body)
        app.extensions.get("logdig_dashboard") and app.extensions["logdig_dashboard"]._cache.clear()


def test_one_overlay_link_asks_for_a_bounded_number_of_segments(site, monkeypatch):
    """Each new segment is a computation over the site's events, and a link can leak (it is
    in the page's URL for 2 hours): past LINK_SEGMENTS distinct ones it gets 429 naming the
    segment; one it asked for before is still answered (an attacker's finding)."""
    from logdig.queue import shared_secret
    from web.dashboard import overlay

    app, token, _ = site
    monkeypatch.setattr(overlay, "LINK_SEGMENTS", 1, raising=False)
    sig = overlay.sign(
        shared_secret(app.extensions["logdig"]["redis"]), token, f"{SITE}/demo", DAY, DAY, NOW.timestamp()
    )
    client = app.test_client()

    def ask(**segment):
        return client.get("/overlay/data", query_string={"sig": sig, **segment})

    assert ask(device="mobile").status_code in (200, 202)
    refused = ask(device="tablet")
    assert refused.status_code == 429 and refused.json["field"] == "segment", refused.text
    assert "open the overlay again from the dashboard" in refused.json["error"]
    assert ask(device="mobile").status_code in (200, 202)
    assert ask(variant="hero:control").status_code == 200  # a variant alone computes nothing


def test_an_unknown_dashboard_address_is_the_dashboards_not_found_page(site, client):
    """A mistyped /dashboard/... address answered the collector's JSON 404 (an attacker's
    note); it is the dashboard's own page, and the API and collector keep their JSON."""
    missing = client.get("/dashboard/pagez", environ_base=CLIENT)
    assert missing.status_code == 404 and missing.mimetype == "text/html", missing.text[:200]
    assert "Not Found" in text_of(missing.text) and "LogDig" in missing.text
    anonymous = site[0].test_client().get("/dashboard/pagez", environ_base=CLIENT)
    assert anonymous.status_code == 302 and "/dashboard/login" in anonymous.location
    assert client.get("/dashboard/logout", environ_base=CLIENT).status_code == 405  # POST only
    api = client.get("/api/v1/nope", environ_base=CLIENT)
    assert api.status_code == 404 and api.json["status"] == 404
