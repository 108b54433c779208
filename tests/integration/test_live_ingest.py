"""Issue 16 on the ingest side, through real HTTP and a real redis-server: the live layer's
counters, channels and UTM fields, and the country of the client IP (never the IP)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from redis import Redis

from logdig.config import ConfigError, Settings
from logdig.geo import countries
from logdig.live import FIELD_CAP, LIVE_TTL, live
from logdig.queue import QUEUE, live_keys
from tests.conftest import start_collector
from tests.helpers import make_event, post


def queued(redis: Redis) -> list[dict]:
    return [orjson.loads(line) for line in redis.lrange(QUEUE, 0, -1)]


def tiny_db(path: Path) -> Path:
    """A MaxMind-format country file: 203.0.113.0/24 in DE, 2001:db8::/32 in FR, a record in the
    `country_code` shape (ip-location-db's) for 198.51.100.0/24, nothing else."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="Test-Country", ipv4_compatible=True)
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {"country": {"iso_code": "FR"}})
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"country_code": "NL"})
    writer.to_db_file(str(path))
    return path


def test_live_counts_right_after_posting(live_collector, redis):
    token, url = live_collector.token, live_collector.url + "/logs"
    google = "https://www.google.com/search?q=x"
    events = [
        make_event(token, type="pageview", user_key="alice", current_page="https://a.example/?x=1", referrer=google),
        make_event(token, type="pageview", user_key="bob", current_page="https://a.example/", referrer=None),
        make_event(token, type="pageview", user_key="bob", current_page="https://a.example/shop"),
        make_event(token, type="click", user_key="bob", current_page="https://a.example/shop"),
    ]
    status, _, body = post(url, events)
    assert (status, body["accepted"]) == (202, 4)
    got = live(redis, token, time.time())  # no wait: counted in the same round trip as the 202
    assert (got["events_30m"], got["pageviews_30m"], got["visitors_5m"], got["visitors_30m"]) == (4, 3, 2, 2)
    assert got["per_minute"][-1]["events"] == 4 and len(got["per_minute"]) == 30
    assert got["pages"] == [{"page": "https://a.example/", "views": 2}, {"page": "https://a.example/shop", "views": 1}]
    assert got["sources"] == [{"source": "Direct / none", "views": 2}, {"source": "google.com", "views": 1}]
    assert got["countries"] == [{"country": "Unknown", "views": 3}]  # 127.0.0.1
    # repeats (the same event_ids again) count nothing
    assert post(url, events)[2]["duplicates"] == 4
    assert live(redis, token, time.time())["events_30m"] == 4


def test_live_keys_expire(live_collector, redis):
    post(live_collector.url + "/logs", [make_event(live_collector.token, type="pageview")])
    for key in live_keys(live_collector.token, int(time.time() // 60)):
        assert 0 < redis.ttl(key) <= LIVE_TTL, key
    assert all(redis.ttl(k) > 0 for k in redis.keys("logdig:live:*"))  # nothing kept forever


def test_live_distinct_pages_per_minute_are_capped(live_collector, redis):
    token = live_collector.token
    events = [make_event(token, type="pageview", current_page=f"https://a.example/p{i}") for i in range(FIELD_CAP + 20)]
    assert post(live_collector.url + "/logs", events)[0] == 202
    hash_key = live_keys(token, int(time.time() // 60))[0]
    fields = redis.hgetall(hash_key)
    assert sum(1 for k in fields if k.startswith(b"p:")) == FIELD_CAP + 1  # + (other)
    assert int(fields[b"p:(other)"]) == 20


def test_utm_fields_and_channel_are_kept_when_the_query_is_stripped(local_settings, redis):
    collector = start_collector(local_settings.replace(url_query="strip"))
    try:
        page = "https://a.example/land?utm_source=newsletter&utm_medium=email&utm_campaign=spring&id=7"
        event = make_event(collector.token, type="pageview", current_page=page, referrer="https://x.example/?q=1")
        assert post(collector.url + "/logs", [event])[0] == 202
    finally:
        collector.stop()
    (stored,) = queued(redis)
    assert stored["current_page"] == "https://a.example/land"  # the query is gone...
    assert stored["referrer"] == "https://x.example/"
    assert (stored["utm_source"], stored["utm_medium"], stored["utm_campaign"]) == ("newsletter", "email", "spring")
    assert stored["channel"] == "Email"  # ...but where the visitor came from is kept
    assert "utm_term" not in stored and "utm_content" not in stored


@pytest.mark.parametrize("field", ["channel", "country", "utm_source", "utm_campaign"])
def test_a_client_sending_a_server_field_gets_400(live_collector, field):
    status, _, body = post(live_collector.url + "/logs", [make_event(live_collector.token, **{field: "x"})])
    assert status == 400 and body["field"] == field


def test_country_from_the_database_and_no_ip_stored(local_settings, redis, tmp_path):
    db = tiny_db(tmp_path / "tiny.mmdb")
    collector = start_collector(local_settings.replace(geoip_db=str(db), proxy_hops=1))
    try:
        for ip in ("203.0.113.7", "2001:db8::1", "198.51.100.9", "192.168.1.20"):
            event = make_event(collector.token, type="pageview")
            assert post(collector.url + "/logs", [event], headers={"X-Forwarded-For": ip})[0] == 202
    finally:
        collector.stop()
    lines = redis.lrange(QUEUE, 0, -1)
    assert [orjson.loads(line)["country"] for line in lines] == ["DE", "FR", "NL", None]
    for line in lines:
        assert b"203.0.113" not in line and b"2001:db8" not in line and b"198.51.100" not in line
        assert "ip" not in orjson.loads(line)
    countries_live = live(redis, collector.token, time.time())["countries"]
    assert {c["country"] for c in countries_live} == {"DE", "FR", "NL", "Unknown"}


def test_truncated_ip_is_stored_beside_the_country_only_when_asked(local_settings, redis, tmp_path):
    db = tiny_db(tmp_path / "tiny.mmdb")
    collector = start_collector(local_settings.replace(geoip_db=str(db), proxy_hops=1, store_ip="truncated"))
    try:
        headers = {"X-Forwarded-For": "203.0.113.7"}
        assert post(collector.url + "/logs", [make_event(collector.token)], headers=headers)[0] == 202
    finally:
        collector.stop()
    (stored,) = queued(redis)
    assert (stored["country"], stored["ip"]) == ("DE", "203.0.113.0")


def test_the_installed_free_database_knows_public_ips():
    country = countries("")
    assert country("8.8.8.8") == "US"
    assert country("81.2.69.142") == "GB"
    assert country("10.1.2.3") is None and country("127.0.0.1") is None
    assert country("not an ip") is None and country("-") is None


def test_an_unreadable_geoip_db_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database")
    for path in (bad, tmp_path / "missing.mmdb"):
        with pytest.raises(ConfigError, match="LOGDIG_GEOIP_DB"):
            countries(str(path))


def test_settings_read_logdig_geoip_db():
    assert Settings.from_env({"LOGDIG_GEOIP_DB": "/data/GeoLite2-Country.mmdb"}).geoip_db.endswith("Country.mmdb")


def test_logdig_web_with_an_unreadable_geoip_db_says_so_in_one_line(redis_server, tmp_path):
    missing = str(tmp_path / "missing.mmdb")
    env = {**os.environ, "LOGDIG_REDIS_URL": redis_server, "LOGDIG_GEOIP_DB": missing}
    done = subprocess.run(
        [sys.executable, "-m", "logdig.cli", "web", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"Error: LOGDIG_GEOIP_DB {missing!r} is not a readable MaxMind database")
