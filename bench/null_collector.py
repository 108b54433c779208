"""The ingest baseline: the least a collector can do, under the same gunicorn settings.

    python3 bench/null_collector.py --port 8001 --workers 2

`POST /logs` pushes the raw body onto a Redis list (one RPUSH, no parsing, no checks)
and answers 202; `GET /` answers "Success". It is served by `web.serve.serve_gunicorn`
itself - only the WSGI app is swapped - so the worker class, threads and timeouts are
exactly those of `logdig web`. What `logdig web` costs beyond it is parsing,
validation, enrichment and the ingest Lua script.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import web.serve  # noqa: E402
from web.serve import CollectorApplication  # noqa: E402

NULL_QUEUE = "bench:null"


def create_null_app():
    from flask import Flask, Response, request

    from logdig.queue import connect

    app = Flask(__name__)
    redis = connect(os.environ["LOGDIG_REDIS_URL"])

    @app.get("/")
    def check() -> str:
        return "Success"

    @app.post("/logs")
    def logs() -> Response:
        redis.rpush(NULL_QUEUE, request.get_data())
        return Response('{"accepted":1}', status=202, mimetype="application/json")

    return app


class NullApplication(CollectorApplication):
    def load(self):
        return create_null_app()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    # serve_gunicorn builds the options; it finds the application class by this name.
    web.serve.CollectorApplication = NullApplication
    web.serve.serve_gunicorn(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
