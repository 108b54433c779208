"""Object storage: the S3 API (minio SDK) or a local folder, and the key layout.

Only this module knows object keys. Raw events live at YYYY-MM-DD/<sha256>.jsonl,
analysis results under results/, so a Spark glob over the day folders stays clean.
The lake (worker/compact.py) sits beside them under lake/: Hive-partitioned Parquet
parts ``lake/events/day=YYYY-MM-DD/token=<token>/part-<sha256>.parquet`` and one
manifest a compacted day, ``lake/_manifests/day=YYYY-MM-DD.json``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urlparse

from logdig.config import ConfigError, Settings, redact_url

RESULTS_PREFIX = "results/"
RAW_KEY = re.compile(r"^(\d{4}-\d{2}-\d{2})/([0-9a-f]{64})\.jsonl$")


class StorageError(RuntimeError):
    """The store failed or returned something other than what was written: retry later."""


def raw_key(day: date, data: bytes) -> str:
    """The key of a raw object: its UTC receive day and the SHA-256 of its exact bytes."""
    return f"{day.isoformat()}/{hashlib.sha256(data).hexdigest()}.jsonl"


def day_prefix(day: date) -> str:
    return f"{day.isoformat()}/"


def raw_keys(store: ObjectStore) -> Iterator[tuple[date, str]]:
    """Every raw event object, with its day."""
    for key in store.list():
        match = RAW_KEY.match(key)
        if match:
            yield date.fromisoformat(match.group(1)), key


def results_key(job: str, token: str, day: date | str) -> str:
    day = day.isoformat() if isinstance(day, date) else day
    return f"{RESULTS_PREFIX}{job}/{token}/{day}.json"


def segment_prefix(token: str) -> str:
    return f"{RESULTS_PREFIX}_segments/{quote(token, safe='')}/"


def segment_key(token: str, digest: str, day: date | str) -> str:
    """A site's results for one date range and filter, computed on demand (the dashboard's
    filtered views cache them here; ``digest`` names the range and filter), under the UTC
    day they were computed on, so that older days' can be swept (web.dashboard.segments)."""
    return f"{segment_prefix(token)}{_day(day)}/{digest}.json"


LAKE_EVENTS = "lake/events"  # spark.read.parquet(".../lake/events") reads the whole table
LAKE_MANIFESTS = "lake/_manifests/"
LAKE_PART = re.compile(r"^lake/events/day=(\d{4}-\d{2}-\d{2})/token=([^/]+)/part-([0-9a-f]{64})\.parquet$")
LAKE_MANIFEST = re.compile(r"^lake/_manifests/day=(\d{4}-\d{2}-\d{2})\.json$")


def _day(day: date | str) -> str:
    return day.isoformat() if isinstance(day, date) else day


def lake_day_prefix(day: date | str) -> str:
    """The folder of one day's parts (every token)."""
    return f"{LAKE_EVENTS}/day={_day(day)}/"


def lake_token_prefix(day: date | str, token: str) -> str:
    # escaped as Spark escapes partition values, so a token is one path segment that
    # Spark and Hive read back unchanged ('/', '=', '%', ... become %XX)
    return f"{lake_day_prefix(day)}token={quote(token, safe='')}/"


def lake_part_key(day: date | str, token: str, data: bytes) -> str:
    """A Parquet part of one token's events of one day, named by the SHA-256 of its bytes."""
    return f"{lake_token_prefix(day, token)}part-{hashlib.sha256(data).hexdigest()}.parquet"


def lake_part_token(key: str) -> str | None:
    """The token a part key belongs to, or None for a key that is not a part."""
    match = LAKE_PART.match(key)
    return unquote(match.group(2)) if match else None


def lake_manifest_key(day: date | str) -> str:
    return f"{LAKE_MANIFESTS}day={_day(day)}.json"


def lake_parts(store: ObjectStore, day: date | str) -> list[str]:
    """Every part stored for ``day`` (listed, whatever the manifest says), sorted."""
    return sorted(k for k in store.list(lake_day_prefix(day)) if LAKE_PART.match(k))


def lake_part_sizes(store: ObjectStore, day: date | str) -> dict[str, int]:
    """:func:`lake_parts` with their sizes in bytes, from the listing (nothing is read)."""
    return {k: n for k, n in store.sizes(lake_day_prefix(day)).items() if LAKE_PART.match(k)}


def lake_days(store: ObjectStore) -> list[str]:
    """Days with a manifest or any stored part, sorted."""
    days = {m.group(1) for k in store.list("lake/") if (m := LAKE_PART.match(k) or LAKE_MANIFEST.match(k))}
    return sorted(days)


class ObjectStore(Protocol):
    description: str

    def put(self, key: str, data: bytes, content_type: str = ...) -> None: ...
    def get(self, key: str) -> bytes: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def stat(self, key: str) -> tuple[int, str]: ...
    def sizes(self, prefix: str = "") -> dict[str, int]: ...
    def delete(self, key: str) -> None: ...
    def ensure_bucket(self) -> None: ...


class LocalStore:
    """The S3 layout in a folder. Writes are atomic: a temp file renamed into place."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.description = f"local folder {self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key escapes the data folder: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str = "application/x-ndjson") -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise StorageError(f"cannot write {path}: {e}") from e

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def local_file(self, key: str) -> Path:
        """The file that holds ``key``, for readers that open files themselves (DuckDB's
        read_parquet); only the local store has one."""
        return self._path(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and not path.name.startswith(".tmp-") and key.startswith(prefix):
                yield key

    def stat(self, key: str) -> tuple[int, str]:
        data = self.get(key)
        return len(data), hashlib.md5(data).hexdigest()

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Every object's size under a prefix, without reading any."""
        return {key: self._path(key).stat().st_size for key in self.list(prefix)}

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def ensure_bucket(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create {self.root}: {e}") from e


# Our own flush retries with backoff (worker/flush.py), so the SDK's HTTP client fails
# fast: short connect timeout, bounded read timeout, one quick retry.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60


def _http_client():
    import urllib3

    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        maxsize=10,
    )


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What the minio SDK raises when S3 is unreachable or fails: all become StorageError."""
    from minio.error import MinioException
    from urllib3.exceptions import HTTPError

    return (MinioException, HTTPError, OSError)


class S3Store:
    """Any S3 API (MinIO, AWS S3) through the minio SDK."""

    def __init__(self, settings: Settings):
        from minio import Minio

        url = urlparse(settings.s3_endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(f"LOGDIG_S3_ENDPOINT must be an http(s) URL, got {redact_url(settings.s3_endpoint)!r}")
        self.bucket = settings.s3_bucket
        self.client = Minio(
            url.netloc.rpartition("@")[2],  # credentials come from AWS_*, never the URL
            access_key=settings.aws_access_key_id or None,
            secret_key=settings.aws_secret_access_key or None,
            region=settings.aws_region or None,
            secure=url.scheme == "https",
            http_client=_http_client(),
        )
        self.description = f"s3 bucket {self.bucket} at {redact_url(settings.s3_endpoint)}"

    def put(self, key: str, data: bytes, content_type: str = "application/x-ndjson") -> None:
        try:
            result = self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        except _transport_errors() as e:
            raise StorageError(f"cannot write s3://{self.bucket}/{key}: {e}") from e
        # A single-part upload's ETag is the MD5 of its bytes: check what arrived.
        if result.etag and result.etag.strip('"') != hashlib.md5(data).hexdigest():
            raise StorageError(f"s3://{self.bucket}/{key}: ETag {result.etag} does not match the bytes sent")

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()
        except _transport_errors() as e:
            raise StorageError(f"cannot read s3://{self.bucket}/{key}: {e}") from e

    def list(self, prefix: str = "") -> Iterator[str]:
        try:
            for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                yield obj.object_name
        except _transport_errors() as e:
            raise StorageError(f"cannot list s3://{self.bucket}/{prefix}: {e}") from e

    def sizes(self, prefix: str = "") -> dict[str, int]:
        """Every object's size under a prefix, from one listing."""
        try:
            listed = self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return {obj.object_name: obj.size for obj in listed}
        except _transport_errors() as e:
            raise StorageError(f"cannot list s3://{self.bucket}/{prefix}: {e}") from e

    def stat(self, key: str) -> tuple[int, str]:
        try:
            st = self.client.stat_object(self.bucket, key)
        except _transport_errors() as e:
            raise StorageError(f"cannot stat s3://{self.bucket}/{key}: {e}") from e
        return st.size, (st.etag or "").strip('"')

    def delete(self, key: str) -> None:
        try:
            self.client.remove_object(self.bucket, key)
        except _transport_errors() as e:
            raise StorageError(f"cannot delete s3://{self.bucket}/{key}: {e}") from e

    def ensure_bucket(self) -> None:
        try:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
        except _transport_errors() as e:
            raise StorageError(f"cannot reach or create bucket {self.bucket}: {e}") from e


def open_store(settings: Settings) -> ObjectStore:
    if settings.s3_endpoint:
        return S3Store(settings)
    return LocalStore(settings.data_dir)
