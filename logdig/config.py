"""One Settings object, read from LOGDIG_* / AWS_* environment variables.

Every default lives here with the reason for it. The README's settings table is
checked against SETTINGS by tests/unit/test_docs.py, so the two cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit


class Setting(NamedTuple):
    env: str
    default: object
    help: str
    minimum: int = 1  # for numbers


# attribute name -> (environment variable, default, why)
SETTINGS: dict[str, Setting] = {
    "redis_url": Setting(
        "LOGDIG_REDIS_URL", "", "Redis for the queue; empty in `logdig dev` means an in-process stand-in"
    ),
    "s3_endpoint": Setting(
        "LOGDIG_S3_ENDPOINT",
        "",
        "S3 API URL (http://minio:9000, https://s3.amazonaws.com); empty writes to LOGDIG_DATA_DIR",
    ),
    "s3_bucket": Setting("LOGDIG_S3_BUCKET", "logdig", "bucket for raw objects and results"),
    "aws_access_key_id": Setting("AWS_ACCESS_KEY_ID", "", "S3 access key (the name Spark's s3a and AWS tools read)"),
    "aws_secret_access_key": Setting("AWS_SECRET_ACCESS_KEY", "", "S3 secret key"),
    "aws_region": Setting("AWS_REGION", "us-east-1", "S3 region; MinIO ignores it"),
    "data_dir": Setting("LOGDIG_DATA_DIR", "./logdig-data", "local folder for objects when no S3 endpoint is set"),
    "batch_min": Setting("LOGDIG_BATCH_MIN", 100, "events queued before a flush writes (the original's 100)"),
    "batch_max": Setting(
        "LOGDIG_BATCH_MAX", 10_000, "most events in one object, so objects stay a size Spark splits well"
    ),
    "flush_interval": Setting("LOGDIG_FLUSH_INTERVAL", 60, "seconds between scheduled flushes"),
    "max_wait": Setting(
        "LOGDIG_MAX_WAIT", 300, "seconds the oldest event may wait before a smaller batch is written (the seed's 5 min)"
    ),
    "queue_max": Setting(
        "LOGDIG_QUEUE_MAX", 1_000_000, "queued events beyond which the collector answers 503 (backpressure)"
    ),
    "dedupe_window": Setting("LOGDIG_DEDUPE_WINDOW", 3600, "seconds a (token, event_id) is remembered to drop repeats"),
    "max_body": Setting("LOGDIG_MAX_BODY", 1024 * 1024, "largest POST /logs body in bytes (413 beyond)"),
    "max_events": Setting("LOGDIG_MAX_EVENTS", 1000, "most events in one POST /logs (413 beyond)"),
    "rate_ip": Setting(
        "LOGDIG_RATE_IP", 1200, "POST /logs requests per minute from one client IP (429 beyond); 0 turns it off", 0
    ),
    "rate_token": Setting(
        "LOGDIG_RATE_TOKEN", 600_000, "events per minute for one token (429 beyond); 0 turns it off", 0
    ),
    "rate_token_ip_share": Setting(
        "LOGDIG_RATE_TOKEN_IP_SHARE",
        10,
        "percent of LOGDIG_RATE_TOKEN one client IP may send for a token (429 beyond), so one address "
        "cannot use up a site's budget; 0 turns it off",
        0,
    ),
    "rate_api": Setting(
        "LOGDIG_RATE_API",
        600,
        "Stats API (/api/v1/) requests per minute per API key, and per client IP (429 beyond); 0 turns it off",
        0,
    ),
    "proxy_hops": Setting(
        "LOGDIG_PROXY_HOPS", 0, "reverse proxies in front of web whose X-Forwarded-For is trusted for the client IP", 0
    ),
    "store_ip": Setting(
        "LOGDIG_STORE_IP",
        "off",
        "`off`: no IP is stored; `truncated`: the client IP with its last IPv4 byte / IPv6 80 bits zeroed",
    ),
    "url_query": Setting(
        "LOGDIG_URL_QUERY",
        "keep",
        "`keep` URLs as sent; `strip` query strings and fragments; `allow:a,b` keeps only those parameters",
    ),
    "geoip_db": Setting(
        "LOGDIG_GEOIP_DB",
        "",
        "a MaxMind-format country database (GeoLite2 or DB-IP Country .mmdb) for the `country` field; "
        "empty: the free Geoacumen file python-geoacumen installs",
    ),
    "drop_bots": Setting(
        "LOGDIG_DROP_BOTS",
        "off",
        "`on`: events from known crawlers are dropped (counted as rejected:bot); `off`: kept and flagged `bot`",
    ),
    "cookie_secure": Setting(
        "LOGDIG_COOKIE_SECURE",
        "on",
        "`on`: dashboard cookies only over https (and http://localhost); `off` for plain http on a private network",
    ),
    "analyze_interval": Setting("LOGDIG_ANALYZE_INTERVAL", 900, "seconds between scheduled analysis runs"),
    "analyze_today_interval": Setting(
        "LOGDIG_ANALYZE_TODAY_INTERVAL",
        120,
        "seconds between checks that analyse today (and yesterday) again when their objects changed, so a click "
        "reaches the dashboard within 10 minutes; 0 turns it off",
        0,
    ),
    "admin_password": Setting("LOGDIG_ADMIN_PASSWORD", "", "password for the dashboard's admin pages"),
}


# Secrets that must never guard a real deployment (MinIO's and our own old examples).
WEAK_SECRETS = {"", "minioadmin", "minio123", "password", "changeme", "change-me", "secret", "admin", "logdig"}

ADMIN_PASSWORD_MIN = 12  # characters; `logdig dev` generates 16 (secrets.token_urlsafe(12))


def weak_password(value: str) -> str | None:
    """Why LOGDIG_ADMIN_PASSWORD cannot guard the dashboard, or None when it can. The one
    rule for the dashboard (which stays locked), `logdig setup` and `logdig dev`; the
    reason never repeats the password."""
    if not value:
        return "LOGDIG_ADMIN_PASSWORD is not set"
    if value.lower() in WEAK_SECRETS:
        return "LOGDIG_ADMIN_PASSWORD is a known default"
    if len(value) < ADMIN_PASSWORD_MIN:
        return f"LOGDIG_ADMIN_PASSWORD is shorter than {ADMIN_PASSWORD_MIN} characters"
    return None


def redact_url(url: str) -> str:
    """A URL safe to print: a password replaced by ***, or a user name alone (often a
    token, https://TOKEN@host) replaced by ***. Something that is not a URL at all (no
    scheme, or one urlsplit refuses) may be a secret pasted in the wrong place: ***."""
    try:
        parts = urlsplit(url)
    except ValueError:  # redis://user:pw@[::1 (an unclosed bracket)
        return "***"
    if not parts.scheme or "://" not in url:
        return "***" if url else url
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if colon else f"***@{host}"))


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    redis_url: str = field(default="", repr=False)  # may hold a password
    s3_endpoint: str = ""
    s3_bucket: str = "logdig"
    aws_access_key_id: str = ""
    aws_secret_access_key: str = field(default="", repr=False)
    aws_region: str = "us-east-1"
    data_dir: str = "./logdig-data"
    batch_min: int = 100
    batch_max: int = 10_000
    flush_interval: int = 60
    max_wait: int = 300
    queue_max: int = 1_000_000
    dedupe_window: int = 3600
    max_body: int = 1024 * 1024
    max_events: int = 1000
    rate_ip: int = 1200
    rate_token: int = 600_000
    rate_token_ip_share: int = 10
    rate_api: int = 600
    proxy_hops: int = 0
    store_ip: str = "off"
    url_query: str = "keep"
    geoip_db: str = ""
    drop_bots: str = "off"
    cookie_secure: str = "on"
    analyze_interval: int = 900
    analyze_today_interval: int = 120
    admin_password: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            setting = SETTINGS[f.name]
            raw = environ.get(setting.env)
            if raw is None or raw == "":
                continue
            if isinstance(setting.default, int):
                try:
                    number = int(raw)
                except ValueError:
                    raise ConfigError(f"{setting.env} must be a whole number, got {raw!r}") from None
                if number < setting.minimum:
                    raise ConfigError(f"{setting.env} must be at least {setting.minimum}, got {number}")
                values[f.name] = number
            else:
                values[f.name] = raw
        values.update(overrides)
        settings = cls(**values)
        if settings.rate_token_ip_share > 100:
            raise ConfigError(
                f"LOGDIG_RATE_TOKEN_IP_SHARE is a percentage: at most 100, got {settings.rate_token_ip_share}"
            )
        if settings.batch_min > settings.batch_max:
            raise ConfigError("LOGDIG_BATCH_MIN must not exceed LOGDIG_BATCH_MAX")
        if settings.store_ip not in ("off", "truncated"):
            raise ConfigError(f"LOGDIG_STORE_IP must be off or truncated, got {settings.store_ip!r}")
        for name in ("drop_bots", "cookie_secure"):
            if getattr(settings, name) not in ("off", "on"):
                raise ConfigError(f"{SETTINGS[name].env} must be off or on, got {getattr(settings, name)!r}")
        if settings.url_query not in ("keep", "strip") and not settings.url_query.startswith("allow:"):
            raise ConfigError(f"LOGDIG_URL_QUERY must be keep, strip or allow:name,name, got {settings.url_query!r}")
        return settings

    def __repr__(self) -> str:
        """The dataclass's repr with any userinfo in LOGDIG_S3_ENDPOINT redacted; fields with
        repr=False (the Redis URL, the secrets) stay out, as before."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["s3_endpoint"] = redact_url(self.s3_endpoint)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    def replace(self, **changes: object) -> Settings:
        return Settings(**{**self.__dict__, **changes})


# Keep the dataclass and the table in step: a field without a row is a bug.
assert [f.name for f in fields(Settings)] == list(SETTINGS), "Settings and SETTINGS differ"
assert all(f.default == SETTINGS[f.name].default for f in fields(Settings)), "defaults differ"
