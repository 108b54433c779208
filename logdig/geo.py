"""The client IP's country (ISO 3166 alpha-2), from a MaxMind-format database file.

LOGDIG_GEOIP_DB names the file: a MaxMind GeoLite2 Country or a DB-IP "IP to Country
Lite" .mmdb (or any MaxMind-format file whose records hold ``country.iso_code`` or
``country_code``). Without it, the free Geoacumen country database that the
``python-geoacumen`` package installs is used. Read with MaxMind's own reader
(``maxminddb``), opened once per process; answers are kept in an LRU by IP.

Only the country is kept: the IP itself is never stored unless LOGDIG_STORE_IP=truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from logdig.config import ConfigError

CACHE_SIZE = 65_536  # IPs remembered per process (~10 MB at most)
_ISO = re.compile(r"[A-Z]{2}")


def default_db() -> Path | None:
    """The file python-geoacumen installs, or None when it is not installed."""
    try:
        path = resources.files("geoacumen").joinpath("db/Geoacumen-Country.mmdb")
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


def _iso(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    country = record.get("country")
    code = country.get("iso_code") if isinstance(country, dict) else record.get("country_code")
    # Geoacumen answers {"iso_code": "None"} for private ranges: only two capital letters count.
    return code if isinstance(code, str) and _ISO.fullmatch(code) else None


@cache
def countries(path: str = "") -> Callable[[str], str | None]:
    """A function from an IP (text) to its country code or None; one per path and process.

    An empty path means the installed free database; none installed: every answer is None.
    Raises ConfigError when the file cannot be read as a MaxMind database.
    """
    import maxminddb

    file = Path(path) if path else default_db()
    if file is None:
        return lambda ip: None
    try:
        reader = maxminddb.open_database(str(file))
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
        raise ConfigError(f"LOGDIG_GEOIP_DB {str(file)!r} is not a readable MaxMind database ({e})") from None

    @lru_cache(maxsize=CACHE_SIZE)
    def country(ip: str) -> str | None:
        try:
            return _iso(reader.get(ip))
        except (ValueError, TypeError, maxminddb.InvalidDatabaseError):  # not an IP, or a damaged file
            return None

    return country


def describe(path: str = "") -> str:
    """Which database a path means, for logs and `logdig` output."""
    if path:
        return path
    found = default_db()
    return f"{found} (python-geoacumen)" if found else "none installed: countries are null"
