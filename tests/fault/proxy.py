"""A small TCP proxy the fault suite puts between LogDig and the S3 server.

moto keeps its objects in memory, so the S3 server itself must not be killed; instead
this proxy goes "down": every open connection is reset and new ones are accepted and
reset at once (the client sees ECONNRESET, as from a crashed server), until it is "up"
again.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, as a crashed peer would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class Proxy:
    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.up = True
        self.refused = 0  # connections reset while down
        self.passed = 0  # connections forwarded
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, name="s3-proxy", daemon=True)
        self._accepter.start()

    def set_up(self, up: bool) -> None:
        with self._lock:
            self.up = up
            doomed = [] if up else list(self._open)
            if not up:
                self._open.clear()
        for sock in doomed:
            _reset(sock)

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if not self.up:
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self.passed += 1
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                t.start()
                self._threads.append(t)
            self._threads = [t for t in self._threads if t.is_alive()]

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        # Either side done: close both (HTTP needs no half-open connections here).
        with self._lock:
            mine = [s for s in (src, dst) if s in self._open]
            self._open.difference_update(mine)
        for sock in mine:
            _reset(sock) if not self.up else self._close(sock)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def close(self) -> None:
        self._closing = True
        self._accepter.join(5)
        self.listener.close()
        with self._lock:
            doomed = list(self._open)
            self._open.clear()
        for sock in doomed:
            self._close(sock)
        for t in self._threads:
            t.join(5)
