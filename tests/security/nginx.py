"""The real nginx in front of a real `logdig web`, as docker-compose.yml runs it, and the
slow-client attack it is there for. Shared by tests/security/test_proxy.py and
bench/bench_slowloris.py.

The proxy's config is deploy/nginx/logdig.conf.template, rendered the way the official
nginx image renders /etc/nginx/templates/*.template (envsubst over the variables its
environment defines, which is what compose's `proxy.environment` gives it), and run by
Debian's nginx as the current user with every path in a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "logdig.conf.template"
NGINX = "/usr/sbin/nginx"

# A stand-in for the image's /etc/nginx/nginx.conf: the same http block around conf.d,
# with the pid, logs and temporary files in our folder (nginx runs unprivileged here).
MAIN_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/conf.d/*.conf;
}}
"""


def envsubst(text: str, env: Mapping[str, str]) -> str:
    """What the image's 20-envsubst-on-templates.sh does: `envsubst "$defined_envs"`, which
    replaces $NAME and ${NAME} for the names set in the environment and nothing else."""

    def one(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        return env[name] if name in env else m.group(0)

    return re.sub(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", one, text)


def template_variables(text: str) -> set[str]:
    """The ${NAME}s a template expects from its environment (nginx's own are $name)."""
    return set(re.findall(r"\$\{([A-Za-z_]\w*)\}", text))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Nginx:
    proc: subprocess.Popen
    dir: Path
    http_port: int
    https_port: int
    cert: Path
    config: str = field(repr=False)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def log(self) -> str:
        return (self.dir / "error.log").read_text(errors="replace")


def proxy_environment(upstream: str, cert: Path, key: Path, http_port: int, https_port: int) -> dict[str, str]:
    """The proxy container's environment from docker-compose.yml, with this run's values
    where compose gives container paths and ports."""
    import yaml

    from tests.integration.test_compose import interpolate

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    given = {"LOGDIG_SERVER_NAME": "localhost"}
    env = {k: interpolate(v, given) for k, v in compose["services"]["proxy"]["environment"].items()}
    assert env["LOGDIG_UPSTREAM"] == "web:8000"
    env.update(
        LOGDIG_UPSTREAM=upstream,
        LOGDIG_HTTP_PORT=str(http_port),
        LOGDIG_HTTPS_PORT=str(https_port),
        LOGDIG_TLS_CERT_FILE=str(cert),
        LOGDIG_TLS_KEY_FILE=str(key),
    )
    # What the image itself sets; none of it may collide with an nginx variable.
    return {"NGINX_VERSION": "1.27.3", "HOME": "/root", "PATH": "/usr/sbin:/usr/bin", **env}


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def nginx(upstream: str, **env_overrides: str) -> Iterator[Nginx]:
    """Debian's nginx, configured by the deploy template, proxying to `upstream` (host:port)."""
    if not os.access(NGINX, os.X_OK):
        raise RuntimeError(f"{NGINX} is missing: apt-get install -y nginx")
    folder = Path(tempfile.mkdtemp(prefix="logdig-nginx-"))
    proc = None
    try:
        # As root, nginx's workers run as nobody: they must reach the body temp folder.
        folder.chmod(0o711)
        (folder / "conf.d").mkdir()
        cert, key = self_signed(folder)
        http_port, https_port = free_port(), free_port()
        env = {**proxy_environment(upstream, cert, key, http_port, https_port), **env_overrides}
        config = envsubst(TEMPLATE.read_text(), env)
        (folder / "conf.d" / "default.conf").write_text(config)
        (folder / "nginx.conf").write_text(MAIN_CONF.format(dir=folder))
        argv = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]
        checked = subprocess.run([*argv, "-t"], capture_output=True, text=True)
        if checked.returncode:
            raise RuntimeError(f"nginx -t refused the rendered template:\n{checked.stderr}")
        proc = subprocess.Popen([*argv, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        wait_port(https_port, proc)
        wait_port(http_port, proc)
        yield Nginx(proc, folder, http_port, https_port, cert, config)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(folder, ignore_errors=True)


class SlowClients:
    """The slow-body attack: `sockets` connections that each send `POST /logs` headers with
    `Content-Length: length`, then one byte every `interval` seconds. A connection the
    server answers or closes is opened again at once, as a real attacker would."""

    HEAD = (
        "POST /logs HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n"
        "Content-Length: {length}\r\nUser-Agent: slow\r\n\r\n"
    )

    def __init__(
        self,
        host: str,
        port: int,
        sockets: int = 16,
        interval: float = 5.0,
        length: int = 100_000,
        tls: bool = False,
    ):
        self.address = (host, port)
        self.count, self.interval, self.length = sockets, interval, length
        self.context = None
        if tls:
            self.context = ssl.create_default_context()
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.sockets: list[socket.socket | None] = []
        self.answers: list[bytes] = []  # the start of each answer a slow client got
        self.cut_after: list[float] = []  # seconds from connect to the server's answer or close
        self.opened = 0
        self._opened_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(self.address, timeout=10)
            if self.context is not None:
                sock = self.context.wrap_socket(sock)
            sock.sendall(self.HEAD.format(host=self.address[0], length=self.length).encode())
            sock.setblocking(False)
        except OSError:
            return None
        self.opened += 1
        self._opened_at[sock.fileno()] = time.monotonic()
        return sock

    def _closed_by_server(self, sock: socket.socket) -> bool:
        try:
            data = sock.recv(4096)
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            data = b""
        self.answers.append(data[:500])
        self.cut_after.append(time.monotonic() - self._opened_at.get(sock.fileno(), time.monotonic()))
        return True

    def _run(self) -> None:
        self.sockets = [self._open() for _ in range(self.count)]
        while not self._stop.wait(self.interval):
            for i, sock in enumerate(self.sockets):
                if sock is not None and self._closed_by_server(sock):
                    sock.close()
                    sock = None
                if sock is not None:
                    try:
                        sock.send(b" ")
                        continue
                    except (BlockingIOError, ssl.SSLWantWriteError):
                        continue
                    except OSError:
                        sock.close()
                self.sockets[i] = self._open()

    def __enter__(self) -> SlowClients:
        self._thread.start()
        deadline = time.monotonic() + 10
        while len(self.sockets) < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the headers are in; the server has handed them out
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.interval + 15)
        for sock in self.sockets:
            if sock is not None:
                sock.close()
