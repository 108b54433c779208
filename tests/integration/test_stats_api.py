"""The Stats API (/api/v1/) over real HTTP on a real redis-server, with results the analysis
(DuckDB) computed from generated raw objects: every figure is compared with what the
dashboard's own readers make of the same results, every refusal with its status and field.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from analysis import run
from analysis.engines import duckdb_engine
from analysis.testdata import generate_events, write_objects
from logdig.apikeys import ApiKeys
from logdig.cli import main
from logdig.config import Settings
from logdig.locks import RateLimits
from logdig.queue import APIKEYS, Sites, connect
from logdig.storage import LocalStore
from tests.conftest import start_collector
from tests.helpers import make_event, post, private_redis
from web.dashboard import compare, goals, results, traffic

TODAY = datetime.now(UTC).date()
DAYS = [(TODAY - timedelta(days=n)).isoformat() for n in (3, 2)]
TOKEN, OTHER = "tokStatsA", "tokStatsB"
ALL_METRICS = "visitors,visits,pageviews,events,bounce_rate,visit_duration,views_per_visit"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """Two sites' results for two days, a collector on real HTTP, a key for each site."""
    with private_redis() as server:
        data_dir = tmp_path_factory.mktemp("stats-api")
        settings = Settings(redis_url=server.url, data_dir=str(data_dir))
        store = LocalStore(settings.data_dir)
        write_objects(store, generate_events(DAYS, [TOKEN], users_per_day=40, seed=11))
        engine = duckdb_engine()
        try:  # the jobs the API reads (about 4 s on a quiet machine)
            run.analyze(engine, settings, store, DAYS, jobs=("pages", "visits", "goals"))
        finally:
            engine.close()
        redis = connect(server.url)
        Sites(redis).create("stats-a", token=TOKEN)
        Sites(redis).create("stats-b", token=OTHER)
        keys = ApiKeys(redis)
        key = keys.create(TOKEN, "ci")[1]
        other_key = keys.create(OTHER, "other")[1]
        collector = start_collector(settings, token=TOKEN)
        try:
            yield SimpleNamespace(
                url=collector.url,
                redis=redis,
                key=key,
                other_key=other_key,
                settings=settings,
                results=results.Results(store),
            )
        finally:
            collector.stop()


def get(api, path: str, key: str | None = "", headers: dict | None = None, **params):
    """GET an API path with the site's key (key=None: no Authorization header)."""
    params.setdefault("token", TOKEN)
    headers = dict(headers or {})
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key or api.key}")
    request = urllib.request.Request(f"{api.url}{path}?{urlencode(params)}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), json.loads(e.read())


def ok(api, path: str, **params):
    status, _headers, body = get(api, path, **params)
    assert status == 200, body
    return body


def refused(api, path: str, status: int, field: str, **params) -> dict:
    got, headers, body = get(api, path, **params)
    assert (got, body.get("field"), body.get("status")) == (status, field, status), body
    assert body["error"]
    return headers


RANGE = {"from": DAYS[0], "to": DAYS[1]}


# -- keys ---------------------------------------------------------------------------------


def test_apikey_cli_shows_the_key_once_and_keeps_only_its_hash(api, monkeypatch):
    monkeypatch.setenv("LOGDIG_REDIS_URL", api.settings.redis_url)
    runner = CliRunner()
    made = runner.invoke(main, ["apikey", "create", "--token", TOKEN, "--name", "grafana"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("ldk_") and len(key) > 40
    stored = b"".join(api.redis.hgetall(APIKEYS).values())
    assert key.encode() not in stored and key[17:].encode() not in stored  # hashed at rest
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    listed = runner.invoke(main, ["apikey", "list", "--token", TOKEN])
    line = next(x for x in listed.stdout.splitlines() if "grafana" in x)
    assert key[:16] in line and key not in listed.stdout and TOKEN in line
    assert get(api, "/api/v1/stats/aggregate", key=key, **RANGE)[0] == 200
    gone = runner.invoke(main, ["apikey", "revoke", key[:16]])
    assert gone.exit_code == 0 and "revoked" in gone.stdout
    assert "grafana" not in runner.invoke(main, ["apikey", "list"]).stdout
    again = runner.invoke(main, ["apikey", "revoke", key])
    assert again.exit_code == 1 and key not in again.output and "Traceback" not in again.output
    unknown = runner.invoke(main, ["apikey", "create", "--token", "nope"])
    assert unknown.exit_code == 1 and "no site" in unknown.output
    # a revoked key replayed: 401, like a key that never was
    refused(api, "/api/v1/stats/aggregate", 401, "Authorization", key=key, **RANGE)


def test_wrong_missing_or_malformed_key_is_401_with_www_authenticate(api):
    real = api.key
    wrong_secret = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for key in (wrong_secret, "ldk_000000000000_" + "A" * 43, "not-a-key", "' OR 1=1 --", "x" * 5000):
        headers = refused(api, "/api/v1/stats/aggregate", 401, "Authorization", key=key)
        assert headers["WWW-Authenticate"].startswith("Bearer")
    refused(api, "/api/v1/stats/aggregate", 401, "Authorization", key=None)
    refused(api, "/api/v1/live", 401, "Authorization", key=None, headers={"Authorization": f"Basic {real}"})


def test_other_sites_key_is_403_and_unknown_token_too(api):
    refused(api, "/api/v1/stats/aggregate", 403, "token", key=api.other_key, **RANGE)
    refused(api, "/api/v1/live", 403, "token", key=api.other_key)
    refused(api, "/api/v1/stats/breakdown", 403, "token", token="no-such-site", property="event:page")
    refused(api, "/api/v1/stats/aggregate", 403, "token", token="x' OR '1'='1")
    refused(api, "/api/v1/stats/aggregate", 400, "token", token="")


def test_rate_limited_is_429_with_retry_after(api):
    limited = start_collector(api.settings.replace(rate_api=3), token=TOKEN)
    limits = RateLimits(api.redis)
    try:
        limits.reset("api_ip", "127.0.0.1")
        limits.reset("api_key", api.key.split("_")[1])
        statuses = [get(api, "/api/v1/live", headers={}, key=api.key)[0] for _ in range(2)]
        api_limited = SimpleNamespace(**{**api.__dict__, "url": limited.url})
        statuses += [get(api_limited, "/api/v1/live")[0] for _ in range(2)]
        assert statuses == [200, 200, 200, 429]
        headers = refused(api_limited, "/api/v1/live", 429, "rate")
        assert int(headers["Retry-After"]) >= 1
        # a wrong key is charged too (per client IP, before the key is looked at)
        refused(api_limited, "/api/v1/live", 429, "rate", key="guess")
    finally:
        limited.stop()
        limits.reset("api_ip", "127.0.0.1")
        limits.reset("api_key", api.key.split("_")[1])


# -- figures ------------------------------------------------------------------------------


def dashboard(api, days: list[str]):
    ov = results.overview(api.results, TOKEN, days)
    visits = traffic.read(api.results, TOKEN, days)
    return ov, visits, compare.headline(ov, visits)


def test_aggregate_matches_the_dashboards_headline(api):
    body = ok(api, "/api/v1/stats/aggregate", metrics=ALL_METRICS, **RANGE)
    ov, _visits, head = dashboard(api, DAYS)
    got = {k: v["value"] for k, v in body["results"].items()}
    assert got == {
        "visitors": head["users"],
        "visits": head["visits"],
        "pageviews": head["pageviews"],
        "events": sum(d["events"] for d in ov.per_day),
        "bounce_rate": round(100 * head["bounce_rate"], 1),
        "visit_duration": round(head["mean_duration_ms"] / 1000, 1),
        "views_per_visit": round(head["pages_per_visit"], 2),
    }
    assert got["visitors"] > 0 and got["visits"] > 0 and got["events"] > got["pageviews"]
    assert body["meta"] == {**body["meta"], "from": DAYS[0], "to": DAYS[1], "days_without_results": []}
    default = ok(api, "/api/v1/stats/aggregate")  # visitors; the last 30 days
    assert list(default["results"]) == ["visitors"] and default["results"]["visitors"]["value"] == got["visitors"]
    assert DAYS[0] not in default["meta"]["days_without_results"]


def test_timeseries_has_every_day_with_the_dashboards_figures(api):
    wanted = {"from": (TODAY - timedelta(days=4)).isoformat(), "to": DAYS[1]}
    body = ok(api, "/api/v1/stats/timeseries", metrics="visitors,pageviews,bounce_rate", **wanted)
    rows = body["results"]
    assert [r["date"] for r in rows] == [wanted["from"], *DAYS]
    assert rows[0] == {"date": wanted["from"], "visitors": None, "pageviews": None, "bounce_rate": None}
    assert body["meta"]["days_without_results"] == [wanted["from"]]
    for row in rows[1:]:
        _ov, _visits, head = dashboard(api, [row["date"]])
        expected = {"visitors": head["users"], "pageviews": head["pageviews"]}
        assert row == {"date": row["date"], **expected, "bounce_rate": round(100 * head["bounce_rate"], 1)}
    refused(api, "/api/v1/stats/timeseries", 400, "interval", interval="month")


def test_breakdown_rows_match_the_dashboards_tables(api):
    ov, visits, _head = dashboard(api, DAYS)
    pages = ok(api, "/api/v1/stats/breakdown", property="event:page", metrics="pageviews,visitors", limit=1000, **RANGE)
    assert {r["page"]: (r["pageviews"], r["visitors"]) for r in pages["results"]} == {
        p["page"]: (p["views"], p["user_days"]) for p in ov.pages
    }
    assert [r["pageviews"] for r in pages["results"]] == sorted(
        (r["pageviews"] for r in pages["results"]), reverse=True
    )
    for prop, kind in [("visit:source", "referrer"), ("visit:channel", "channel"), ("visit:country", "country"),
                       ("visit:utm_campaign", "utm_campaign")]:  # fmt: skip
        body = ok(api, "/api/v1/stats/breakdown", property=prop, metrics="visitors,visits,pageviews", **RANGE)
        label = prop.split(":")[1]
        got = {r[label]: (r["visitors"], r["visits"], r["pageviews"]) for r in body["results"]}
        assert got == {n: (c["visitors"], c["visits"], c["pageviews"]) for n, c in visits.sources[kind].items()}, prop
        assert got
    devices = ok(api, "/api/v1/stats/breakdown", property="visit:device", metrics="visits,bounce_rate", **RANGE)
    assert {r["device"]: (r["visits"], r["bounce_rate"]) for r in devices["results"]} == {
        d: (c["visits"], round(100 * traffic.rates(c)["bounce_rate"], 1)) for d, c in visits.devices.items()
    }
    browsers = ok(api, "/api/v1/stats/breakdown", property="visit:browser", **RANGE)
    assert {r["browser"]: r["visitors"] for r in browsers["results"]} == {
        a["name"]: a["users"] for a in ov.agents["browser"]
    }
    names = ok(api, "/api/v1/stats/breakdown", property="event:name", metrics="events,visitors", **RANGE)
    summary = goals.summarise(api.results, TOKEN, DAYS)
    assert {r["name"]: (r["events"], r["visitors"]) for r in names["results"]} == {
        e["name"]: (e["count"], e["users"]) for e in summary["events"]
    }
    one = ok(api, "/api/v1/stats/breakdown", property="event:page", limit=1, page=2, **RANGE)
    assert one["results"] == [{"page": pages["results"][1]["page"], "visitors": pages["results"][1]["visitors"]}]


def test_filters_answered_from_the_results_and_refused_otherwise(api):
    ov, visits, _head = dashboard(api, DAYS)
    page = ov.pages[0]
    path = page["page"].split("://", 1)[1].partition("/")[2]
    for value in (page["page"], "/" + path):
        body = ok(api, "/api/v1/stats/aggregate", metrics="visitors,pageviews", filters=f"event:page=={value}", **RANGE)
        assert body["results"] == {"visitors": {"value": page["user_days"]}, "pageviews": {"value": page["views"]}}
    us = visits.sources["country"]["US"]
    body = ok(api, "/api/v1/stats/aggregate", metrics="visits,views_per_visit", filters="visit:country==US", **RANGE)
    assert body["results"]["visits"]["value"] == us["visits"]
    two = ok(api, "/api/v1/stats/aggregate", metrics="visits", filters="visit:country==US|DE", **RANGE)
    assert two["results"]["visits"]["value"] == us["visits"] + visits.sources["country"]["DE"]["visits"]
    same = ok(api, "/api/v1/stats/breakdown", property="visit:country", filters="visit:country!=US", **RANGE)
    assert {r["country"] for r in same["results"]} == set(visits.sources["country"]) - {"US"}
    # what the results cannot answer is refused, naming the field and what is supported
    answer = get(api, "/api/v1/stats/breakdown", property="event:page", filters="visit:country==US", **RANGE)[2]
    assert answer["status"] == 400 and answer["field"] == "filters" and "event:page only" in answer["error"]
    both = "event:page==/;visit:country==US"
    refused(api, "/api/v1/stats/aggregate", 400, "filters", filters=both, **RANGE)
    refused(api, "/api/v1/stats/aggregate", 400, "metrics", metrics="visits", filters="event:page==/", **RANGE)
    refused(api, "/api/v1/stats/aggregate", 400, "metrics", filters="visit:country==US|DE", **RANGE)
    refused(api, "/api/v1/stats/aggregate", 400, "filters", filters="visit:planet==Mars", **RANGE)
    refused(api, "/api/v1/stats/aggregate", 400, "filters", filters="event:page contains /", **RANGE)


def test_bad_parameters_are_400_naming_the_field(api):
    path = "/api/v1/stats/aggregate"
    refused(api, path, 400, "metrics", metrics="visitors,revenue")
    refused(api, path, 400, "metrics", metrics="visitors; DROP TABLE results")
    refused(api, "/api/v1/stats/breakdown", 400, "property", property="visit:planet")
    refused(api, "/api/v1/stats/breakdown", 400, "property")
    refused(api, "/api/v1/stats/breakdown", 400, "metrics", property="event:page", metrics="visits")
    refused(api, "/api/v1/stats/breakdown", 400, "limit", property="event:page", limit="0")
    refused(api, "/api/v1/stats/breakdown", 400, "limit", property="event:page", limit="9" * 40)
    refused(api, path, 400, "from", **{"from": "2026-02-30"})
    refused(api, path, 400, "to", to="yesterday")
    refused(api, path, 400, "from", **{"from": DAYS[1], "to": DAYS[0]})
    refused(api, path, 400, "from", **{"from": "2020-01-01", "to": "2026-01-01"})
    refused(api, path, 400, "period", period="30d")
    refused(api, path, 400, "filters", filters="event:page==" + "x" * 2100)
    refused(api, path, 400, "request", filters="a" * 3000, metrics="b" * 2000)


# -- live ---------------------------------------------------------------------------------


def test_live_and_realtime_visitors_show_a_click_within_the_request(api):
    before = ok(api, "/api/v1/live")
    events = [
        make_event(TOKEN, type="pageview", user_key=f"liveUser{i:012d}", current_page="https://a.example/now")
        for i in range(3)
    ]
    assert post(f"{api.url}/logs", events)[0] == 202
    body = ok(api, "/api/v1/live")
    assert body["token"] == TOKEN and body["visitors_5m"] == before["visitors_5m"] + 3
    assert body["pageviews_30m"] == before["pageviews_30m"] + 3
    assert {"page": "https://a.example/now", "views": 3} in body["pages"]
    assert ok(api, "/api/v1/stats/realtime/visitors") == body["visitors_5m"]


def test_openapi_lists_the_stats_api_and_its_answers_conform(api):
    import requests
    import schemathesis

    with urllib.request.urlopen(f"{api.url}/openapi.json") as response:
        spec = json.loads(response.read())
    paths = ["/api/v1/stats/aggregate", "/api/v1/stats/timeseries", "/api/v1/stats/breakdown", "/api/v1/live"]
    assert set(paths) | {"/api/v1/stats/realtime/visitors"} <= set(spec["paths"])
    schema = schemathesis.openapi.from_dict(spec)
    for path, params in [
        (paths[0], {"metrics": ALL_METRICS, **RANGE}),
        (paths[1], RANGE),
        (paths[2], {"property": "visit:device", **RANGE}),
        (paths[2], {"property": "nope"}),
        (paths[3], {}),
    ]:
        response = requests.get(
            f"{api.url}{path}", {"token": TOKEN, **params}, headers={"Authorization": f"Bearer {api.key}"}, timeout=30
        )
        assert response.status_code in (200, 400), response.text
        schema[path]["GET"].validate_response(response)


# -- attacks (each failed before its fix) -------------------------------------------------


def test_wildcards_in_a_filter_cannot_stall_a_worker():
    """`*a*a*a...b` as a regular expression backtracks for minutes over a long URL (one
    request held a worker for 73 s at 8 wildcards); wildcards are matched without it."""
    import time

    from web.api.stats import PROPERTIES, Condition

    condition = Condition(PROPERTIES["event:page"], False, ("*a" * 40 + "b",))
    started = time.perf_counter()
    assert not condition.matches("https://x.example/" + "a" * 8000)
    assert Condition(PROPERTIES["event:page"], False, ("*/products/*",)).matches("https://x.example/products/42")
    assert Condition(PROPERTIES["event:page"], False, ("/a*c",)).matches("https://x.example/abc")
    assert not Condition(PROPERTIES["event:page"], False, ("/a*c",)).matches("https://x.example/abcd")
    assert time.perf_counter() - started < 0.5


def test_limit_in_other_digits_is_400_not_500(api):
    for value in ("²", "١٢", "1e3", "-1", " 5"):
        refused(api, "/api/v1/stats/breakdown", 400, "limit", property="event:page", limit=value)
    refused(api, "/api/v1/stats/breakdown", 400, "page", property="event:page", page="³")


def test_a_path_that_matches_several_urls_gives_no_visitors(api):
    """/ is the path of every host's home page: their visitors do not add up."""
    day = (TODAY - timedelta(days=10)).isoformat()
    views = [
        {"page": p, "views": 5, "users": 3, "entries": 1, "exits": 1}
        for p in ("https://a.example", "https://b.example/")
    ]
    doc = {"job": "pages", "token": TOKEN, "day": day, "data": {"views": views, "totals": {}}}
    LocalStore(api.settings.data_dir).put(f"results/pages/{TOKEN}/{day}.json", json.dumps(doc).encode())
    one_day = {"from": day, "to": day}
    body = ok(api, "/api/v1/stats/aggregate", metrics="pageviews", filters="event:page==/", **one_day)
    assert body["results"] == {"pageviews": {"value": 10}}
    refused(api, "/api/v1/stats/aggregate", 400, "metrics", filters="event:page==/", **one_day)
    exact = ok(api, "/api/v1/stats/aggregate", filters="event:page==https://a.example", **one_day)
    assert exact["results"] == {"visitors": {"value": 3}}


# -- fuzzed from /openapi.json, with a valid key and the site's token -----------------------


@pytest.fixture(scope="module")
def api_schema(api):
    import schemathesis

    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


def _fuzz_tests():
    import schemathesis
    from hypothesis import HealthCheck, settings

    @schemathesis.pytest.from_fixture("api_schema").include(path_regex=r"^/api/").parametrize()
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def test_fuzzed_requests_with_a_valid_key_get_no_5xx_and_conform(case, api):
        import schemathesis

        case.query = {**(case.query or {}), "token": TOKEN}
        response = case.call(base_url=api.url, headers={"Authorization": f"Bearer {api.key}"})
        assert response.status_code < 500, response.text
        case.validate_response(
            response,
            checks=[
                schemathesis.checks.not_a_server_error,
                schemathesis.checks.status_code_conformance,
                schemathesis.checks.response_schema_conformance,
            ],
        )

    return test_fuzzed_requests_with_a_valid_key_get_no_5xx_and_conform


test_fuzzed_requests_with_a_valid_key_get_no_5xx_and_conform = _fuzz_tests()


def test_the_first_day_of_the_calendar_is_a_400_not_a_500(api):
    """to=0001-01-01 with the default from (29 days before) overflowed the date type."""
    refused(api, "/api/v1/stats/aggregate", 400, "to", to="0001-01-01")
    # a range near the start: the 92-day cap's arithmetic overflowed too
    assert get(api, "/api/v1/stats/aggregate", **{"from": "0001-01-01", "to": "0001-02-01"})[0] == 200
    assert get(api, "/api/v1/stats/timeseries", **{"from": "9999-12-30", "to": "9999-12-31"})[0] == 200
    # from given: the default from is not computed (it was, and to=0001-01-05 was refused
    # with "give from as well" although from was there)
    assert get(api, "/api/v1/stats/aggregate", **{"from": "0001-01-01", "to": "0001-01-05"})[0] == 200


def test_keys_are_compared_in_constant_time(monkeypatch):
    """The stored SHA-256 is compared with hmac.compare_digest, not ==."""
    import fakeredis

    from logdig import apikeys

    keys = apikeys.ApiKeys(fakeredis.FakeRedis())
    record, key = keys.create("site")
    compared = []
    real = apikeys.hmac.compare_digest
    monkeypatch.setattr(apikeys.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert keys.verify(key) == record
    assert keys.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert len(compared) == 2


def test_filters_are_capped_in_values_not_only_per_condition(api):
    """26 conditions of 2 values passed a cap of 50 values per condition: every row of every
    day was matched against all of them. Now 50 values in all, each value matched once."""
    many = ";".join(["visit:country!=X|Y"] * 26)
    refused(api, "/api/v1/stats/breakdown", 400, "filters", property="visit:country", filters=many, **RANGE)
    fewer = ";".join(["visit:country!=X|Y"] * 25)
    assert get(api, "/api/v1/stats/breakdown", property="visit:country", filters=fewer, **RANGE)[0] == 200
