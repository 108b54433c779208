"""Where a running `logdig dev` can be found, and what it keeps across restarts.

`logdig dev` serves its in-process Redis stand-in on a private unix socket and writes a
*pointer* (`dev.json` under ``$XDG_STATE_HOME/logdig``, else ``~/.local/state/logdig``)
naming that address, its data folder and its pid. Every other `logdig` command run
without LOGDIG_REDIS_URL reads the pointer, so `logdig token create`, `funnel add`,
`analyze` or `status` work against the running dev, on the same queue and folder.

What a user defines in dev (sites, funnels, experiments) is saved in the data folder
(`.logdig-dev.json`) whenever it changes, and loaded when dev starts again; with no
dev running, `logdig analyze` reads its definitions from that file. No Flask here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logdig.queue import DURABLE_HASHES

STATE_FILE = ".logdig-dev.json"
OLD_DEMO_TOKEN_FILE = ".logdig-dev-demo-token"  # what dev kept before the state file


def pointer_path(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    base = environ.get("XDG_STATE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".local/state")
    return Path(base) / "logdig" / "dev.json"


@dataclass(frozen=True)
class DevInfo:
    pid: int
    redis_url: str
    data_dir: str
    url: str


def _write_private(path: Path, text: str) -> None:
    """Write atomically (temp file, then rename), readable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def announce(info: DevInfo) -> Path:
    path = pointer_path()
    _write_private(path, json.dumps(info.__dict__))
    return path


def withdraw(pid: int) -> None:
    """Mark the pointer stopped (pid 0) if it is still this process's (a newer dev may
    have replaced it): it still tells where the last dev kept its data."""
    found = _read_pointer()
    if found is not None and found.pid == pid:
        with contextlib.suppress(OSError):
            _write_private(pointer_path(), json.dumps({**found.__dict__, "pid": 0}))


def _read_pointer() -> DevInfo | None:
    try:
        raw = json.loads(pointer_path().read_text())
        return DevInfo(int(raw["pid"]), str(raw["redis_url"]), str(raw["data_dir"]), str(raw["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_dev() -> DevInfo | None:
    """The running `logdig dev` this user started last, or None (no pointer, or its
    process is gone)."""
    found = _read_pointer()
    if found is None or not found.pid or not _alive(found.pid):
        return None
    return found


def last_data_dir() -> str | None:
    """The data folder of the last `logdig dev`, running or not."""
    found = _read_pointer()
    return found.data_dir if found else None


# -- what dev keeps across restarts ---------------------------------------------------

PASSWORD_FILE = ".logdig-dev-password"


def dev_password(data_dir: str | os.PathLike[str]) -> str:
    """The dashboard password dev generated for this data folder (kept there, readable by
    this account only), made on the first start: a restart keeps it, so the browser's saved
    password still fits. A file that is not a usable password is replaced."""
    path = Path(data_dir) / PASSWORD_FILE
    with contextlib.suppress(OSError, UnicodeDecodeError):
        kept = path.read_text().strip()
        if len(kept) >= 16 and kept.isprintable():
            return kept
    made = secrets.token_urlsafe(12)
    _write_private(path, made + "\n")
    return made


def snapshot(redis: Any) -> dict[str, dict[str, str]]:
    """The durable hashes (sites, definitions) as plain JSON-able dicts."""
    out = {}
    for key in DURABLE_HASHES:
        values = redis.hgetall(key)
        if values:
            out[key] = {k.decode(): v.decode() for k, v in values.items()}
    return out


def save(data_dir: str | os.PathLike[str], state: dict[str, dict[str, str]]) -> None:
    _write_private(Path(data_dir) / STATE_FILE, json.dumps({"version": 1, "hashes": state}, indent=1, sort_keys=True))


def load(data_dir: str | os.PathLike[str]) -> dict[str, dict[str, str]] | None:
    """The saved hashes, or None when dev never saved any here."""
    path = Path(data_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        hashes = raw["hashes"]
        if not isinstance(hashes, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a state file LogDig can read ({e.__class__.__name__})") from None
    return {k: dict(v) for k, v in hashes.items() if k in DURABLE_HASHES}


def restore(redis: Any, state: dict[str, dict[str, str]]) -> None:
    for key, values in state.items():
        if values:
            redis.hset(key, mapping=values)


def state_redis(data_dir: str | os.PathLike[str]) -> Any | None:
    """A throwaway in-memory Redis holding dev's saved definitions (for a command run
    while dev is stopped), or None when none were saved in this folder."""
    state = load(data_dir)
    if state is None:
        return None
    import fakeredis

    redis = fakeredis.FakeRedis()
    restore(redis, state)
    return redis
