"""Serve the collector under gunicorn, configured from `logdig web` options."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class CollectorApplication(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

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
