"""Issue 12, item 8: docker compose passed only the handful of variables written out in
its `environment`, so LOGDIG_STORE_IP, LOGDIG_URL_QUERY, LOGDIG_DROP_BOTS,
LOGDIG_COOKIE_SECURE, the rate limits and the rest, set in .env, were silently ignored
(privacy settings included).

Every setting comes from logdig/config.py SETTINGS here, so a new one is checked the day
it is added: it must be in README.md's table, in .env.example, and reach every logdig
service from .env.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from logdig.config import SETTINGS
from tests.integration.test_compose import interpolate

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
README = (ROOT / "README.md").read_text()

# The services that run LogDig's own code and read Settings.
LOGDIG_SERVICES = ("setup", "web", "worker", "scheduler", "spark")
# Variables only compose reads (the proxy's certificate, key and host name).
COMPOSE_ONLY = {"LOGDIG_TLS_CERT", "LOGDIG_TLS_KEY", "LOGDIG_SERVER_NAME"}


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as compose reads an env_file (comments and blank lines skipped)."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip()
    return found


def container_env(service: dict, dot_env: dict[str, str]) -> dict[str, str]:
    """What compose gives a container: its env_file(s), then `environment` over them, with
    ${...} taken from .env (compose interpolates from the same file)."""
    env_files = service.get("env_file") or []
    env_files = [env_files] if isinstance(env_files, str) else env_files
    env = {}
    for name in env_files:
        assert name == ".env", f"unexpected env_file {name}"
        env.update(dot_env)
    env.update({k: interpolate(v, dot_env) for k, v in (service.get("environment") or {}).items()})
    return env


def example_value(setting) -> str:
    return "" if setting.default == "" else str(setting.default)


def test_env_example_lists_every_setting_with_its_help():
    lines = ENV_EXAMPLE.splitlines()
    for setting in SETTINGS.values():
        found = [i for i, line in enumerate(lines) if re.match(rf"^(# )?{setting.env}=", line)]
        assert len(found) == 1, f".env.example lists {setting.env} {len(found)} times (once, please)"
        above = lines[found[0] - 1]
        assert above.startswith(f"# {setting.help}"), f".env.example: {setting.env} lacks its help: {setting.help}"


def test_env_example_requires_exactly_the_secrets_compose_requires():
    required = {name for name, value in COMPOSE["x-logdig-env"].items() if ":?" in str(value) and name in _envs()}
    assert required == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "LOGDIG_ADMIN_PASSWORD"}
    given = parse_env_file(ENV_EXAMPLE)
    for name in required:
        assert name in given, f".env.example must set {name} (uncommented): compose requires it"
    # Everything else is a commented default, shown as the service will see it.
    for setting in SETTINGS.values():
        if setting.env in required:
            continue
        (line,) = [line for line in ENV_EXAMPLE.splitlines() if line.startswith(f"# {setting.env}=")]
        shown = line.split("=", 1)[1]
        compose_default = _compose_default(setting.env)
        assert shown == (compose_default if compose_default is not None else example_value(setting)), line


def _envs() -> set[str]:
    return {s.env for s in SETTINGS.values()}


def _compose_default(name: str) -> str | None:
    """The default a logdig service's `environment` gives `name` (${NAME:-x}), if any."""
    for service in LOGDIG_SERVICES:
        value = (SERVICES[service].get("environment") or {}).get(name)
        if value is not None and (m := re.fullmatch(r"\$\{\w+:-([^}]*)\}", str(value))):
            return m.group(1)
    return None


def test_readme_table_env_example_and_settings_name_the_same_variables():
    table = set(re.findall(r"^\| `((?:LOGDIG|AWS)_\w+)` \|", README, re.M))
    example = set(re.findall(r"^(?:# )?((?:LOGDIG|AWS)_\w+)=", ENV_EXAMPLE, re.M))
    assert table == _envs(), f"README's settings table and SETTINGS differ: {table ^ _envs()}"
    assert example - COMPOSE_ONLY == _envs(), f".env.example and SETTINGS differ: {(example - COMPOSE_ONLY) ^ _envs()}"
    assert example >= COMPOSE_ONLY
    for name in COMPOSE_ONLY:
        assert f"`{name}`" in README, f"README does not explain {name}"


@pytest.mark.parametrize("service", LOGDIG_SERVICES)
def test_every_setting_set_in_dot_env_reaches_the_service(service):
    # A .env that sets every setting to a value of its own: each must arrive unchanged.
    dot_env = {setting.env: f"from-dot-env-{setting.env.lower()}" for setting in SETTINGS.values()}
    dot_env.update({name: f"/host/{name.lower()}" for name in COMPOSE_ONLY})
    env = container_env(SERVICES[service], dot_env)
    lost = {name: env.get(name) for name in _envs() if env.get(name) != dot_env[name]}
    assert not lost, f"{service} does not get these .env settings as set: {lost}"


@pytest.mark.parametrize("service", LOGDIG_SERVICES)
def test_compose_sets_no_setting_it_does_not_know(service):
    # A typo in `environment` (LOGDIG_STORE_IPS) would be a setting nobody reads.
    for name in SERVICES[service].get("environment") or {}:
        assert name in _envs(), f"{service} sets {name}, which is not in SETTINGS"


def test_web_trusts_exactly_the_proxy_and_only_the_proxy_is_public():
    web, proxy = SERVICES["web"], SERVICES["proxy"]
    secrets = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "LOGDIG_ADMIN_PASSWORD": "p"}
    assert container_env(web, secrets)["LOGDIG_PROXY_HOPS"] == "1"
    assert "ports" not in web and web["expose"] == ["8000"]
    public = {name for name, service in SERVICES.items() if service.get("ports")}
    # MinIO's console is published on the host's loopback only.
    assert all(p.startswith("127.0.0.1:") for p in SERVICES["minio"]["ports"])
    assert public - {"minio"} == {"proxy"} and sorted(proxy["ports"]) == ["443:443", "80:80"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", proxy["image"])
    assert proxy["restart"] and proxy["healthcheck"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    # The proxy's body limit follows the collector's.
    assert container_env(proxy, {"LOGDIG_MAX_BODY": "2097152"})["LOGDIG_MAX_BODY"] == "2097152"
    assert container_env(proxy, secrets)["LOGDIG_MAX_BODY"] == str(SETTINGS["max_body"].default)
