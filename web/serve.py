"""Serve the collector under gunicorn, configured from `logdig web` options.

Slow clients: gunicorn's gthread worker reads a request body in the application's own
thread, from a blocking socket with no deadline, and its `timeout` never fires for it
(the worker's main thread keeps beating while its threads wait). Measured before this
module bounded it (bench/bench_slowloris.py): 16 clients sending one body byte every 5 s
held all 8 threads of `logdig web --workers 2` for as long as they liked, and /healthz
waited past 3 minutes. So every body is read here, whole, before the app runs, within
BODY_SECONDS plus its size at BODY_MIN_RATE; past that the socket's read side is shut,
the client gets 408 and the thread is free. The real fix is the proxy in front
(deploy/nginx/): it waits for bodies on its event loop, where a slow client costs nothing.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import ParseException

from logdig.config import Settings

BODY_SECONDS = 10.0
BODY_MIN_RATE = 64 * 1024  # bytes a second: a 1 MiB body may take 10 + 16 s


class Deadlines:
    """One thread per worker process that shuts the read side of sockets whose deadline
    passed: a blocked recv() then returns EOF at once, and the reader sees a short body."""

    TICK = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[int, tuple[float, socket.socket, threading.Event]] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def armed(self, sock: socket.socket | None, seconds: float) -> Iterator[threading.Event]:
        expired = threading.Event()
        if sock is None:  # not gunicorn: nothing to cut
            yield expired
            return
        with self._lock:
            self._armed[id(expired)] = (time.monotonic() + seconds, sock, expired)
            if self._thread is None:  # started in the worker, after the fork
                self._thread = threading.Thread(target=self._run, name="body-deadlines", daemon=True)
                self._thread.start()
        try:
            yield expired
        finally:
            with self._lock:
                self._armed.pop(id(expired), None)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._lock:
                due = [key for key, (deadline, _, _) in self._armed.items() if deadline <= now]
                expired = [self._armed.pop(key) for key in due]
            for _, sock, event in expired:
                event.set()
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)


class BodyDeadline:
    """WSGI middleware: the request body, read whole within its deadline, or a 408.

    A body declared larger than `max_body` is left unread for the app to refuse (413).
    The app then reads the body from memory, so no application thread waits on a client.
    """

    def __init__(self, app: Callable, max_body: int, deadlines: Deadlines | None = None):
        self.app, self.max_body = app, max_body
        self.deadlines = deadlines or Deadlines()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if not chunked and not 0 < declared <= self.max_body:
            return self.app(environ, start_response)
        want = self.max_body + 1 if chunked else declared
        with self.deadlines.armed(environ.get("gunicorn.socket"), BODY_SECONDS + want / BODY_MIN_RATE) as expired:
            try:
                body = environ["wsgi.input"].read(want)
            except ParseException:  # a chunk size that is not hex, a missing CRLF
                return _refuse(start_response, 400, "malformed chunked framing")
            except OSError:  # the client went away, or the deadline shut the socket
                body = None
        if body is None or (not chunked and len(body) < declared):
            if expired.is_set():
                return _refuse(start_response, 408, f"not received within {BODY_SECONDS + want / BODY_MIN_RATE:.0f} s")
            return _refuse(start_response, 400, "ended before its Content-Length")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)


def _refuse(start_response: Callable, status: int, reason: str) -> list[bytes]:
    body = orjson.dumps({"error": f"body {reason}", "field": "body", "status": status})
    phrase = {400: "Bad Request", 408: "Request Timeout"}[status]
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(f"{status} {phrase}", headers)
    return [body]


class CollectorApplication(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def wsgi(self):
        # Here rather than in load(), so the bench's null collector (which swaps load) is
        # served the same way.
        if self.callable is None:
            self.callable = BodyDeadline(self.load(), Settings.from_env().max_body)
        return self.callable

    def load(self):
        # Each worker builds its own app and Redis connection after the fork.
        from web import create_app

        return create_app()


def serve_gunicorn(host: str, port: int, workers: int) -> None:
    CollectorApplication(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "timeout": 30,
            "graceful_timeout": 20,
            # Several collectors on one host must not fight over one socket in $HOME.
            "control_socket_disable": True,
        }
    ).run()
