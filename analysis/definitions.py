"""Funnel and experiment definitions: their shape, their checks, and their home in Redis.

Each kind is one Redis hash, ``logdig:definitions:funnel`` and
``logdig:definitions:experiment`` (the prefix is ``logdig.queue.DEFINITIONS``; only
``logdig/queue.py`` names Redis keys), mapping a definition's name to its JSON.

A *step* (funnel step or experiment goal) is either ``{"url": PATTERN}``, matching page
views whose normalised page (see ``analysis.schema``) matches ``PATTERN`` where ``*``
stands for any characters, or ``{"event": NAME}``, matching ``custom`` events with that
``name``. ``PATTERN`` is normalised by the pages' rule when parsed (query string, fragment
and trailing slashes cut: ``*/shop/?q=1`` becomes ``*/shop``), so it can match.

Funnel JSON::

    {"name": "signup", "token": "tokA" | null, "window_seconds": 3600,
     "steps": [{"url": "https://shop.example/pricing"}, {"url": "*/signup"},
               {"event": "purchase"}]}

Experiment JSON (exposure events carry ``name`` = experiment, ``variant``)::

    {"name": "new_button", "token": "tokA" | null, "control": "control",
     "goal": {"event": "purchase"}, "weights": {"control": 0.5, "green": 0.5} | null}

``weights`` are the intended traffic split for the sample-ratio check; without them
the variants seen are expected to be equal.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.schema import normalise_page
from logdig.queue import DEFINITIONS

KINDS = ("funnel", "experiment", "goal")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_STEPS = 20
DEFAULT_WINDOW = 24 * 3600  # a funnel's default time window: one day
PATH_HOST = "[A-Za-z][A-Za-z0-9+.-]*://[^/]*"  # what a path pattern (/about) matches before the path


class DefinitionError(ValueError):
    """A definition is malformed; the message says which part and why."""


@dataclass(frozen=True)
class Step:
    url: str | None = None
    event: str | None = None

    def label(self) -> str:
        return f"url {self.url}" if self.url is not None else f"event {self.event}"

    def regex(self, atomic: bool = False) -> str:
        """The URL pattern as an anchored regular expression (both engines' syntax). Pages are
        whole addresses, so a pattern starting with ``/`` is a path: it matches on any host
        (``/`` alone is the home page, which is stored without its slash).

        ``atomic`` (Spark: Java's regex engine backtracks; DuckDB's RE2 neither backtracks nor
        has atomic groups): each part between stars but the last is taken at its first place
        and kept, ``(?>.*?part)``, which matches the same texts (a later place never leaves
        more room for the rest), in time linear in the text: with plain ``.*`` a pattern of k
        stars tries about n^k ways on a text of n characters that does not match, and a
        visitor's 8 KB URL made one event take seconds (minutes with four stars)."""
        assert self.url is not None
        url, host = self.url, ""
        if url.startswith("/"):
            url, host = url.rstrip("/"), PATH_HOST
        parts = [re.sub(r"([.^$+?()\[\]{}|\\])", r"\\\1", p) for p in url.split("*")]
        if not atomic or len(parts) < 3:
            return "^" + host + ".*".join(parts) + "$"
        first, *middle, last = parts
        return "^" + host + first + "".join(f"(?>.*?{m})" for m in middle) + ".*" + last + "$"


@dataclass(frozen=True)
class Funnel:
    name: str
    steps: tuple[Step, ...]
    window_seconds: int = DEFAULT_WINDOW
    token: str | None = None

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "token": self.token,
            "window_seconds": self.window_seconds,
            "steps": [_step_json(s) for s in self.steps],
        }


@dataclass(frozen=True)
class Experiment:
    name: str
    goal: Step
    control: str = "control"
    token: str | None = None
    weights: dict[str, float] | None = field(default=None, hash=False)

    def to_json(self) -> dict:
        d = asdict(self)
        d["goal"] = _step_json(self.goal)
        return d


@dataclass(frozen=True)
class Goal:
    """A page-view goal (``url:PATTERN``) or a custom-event goal (``event:NAME``)."""

    name: str
    goal: Step
    token: str | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "token": self.token, "goal": _step_json(self.goal)}


def _step_json(step: Step) -> dict:
    return {"url": step.url} if step.url is not None else {"event": step.event}


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise DefinitionError(f"{what} must be 1-64 characters of letters, digits, '_', '.', '-'; got {value!r}")
    return value


def _token(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DefinitionError(f"token must be a string, got {value!r}")
    return value


def parse_step(value: Any, what: str = "step") -> Step:
    if isinstance(value, str):  # shorthand used by the CLI: "url:PATTERN" or "event:NAME"
        kind, sep, arg = value.partition(":")
        if not sep or kind not in ("url", "event"):
            raise DefinitionError(f"{what} must look like url:PATTERN or event:NAME, got {value!r}")
        value = {kind: arg}
    if not isinstance(value, dict) or len(value) != 1 or not ({"url", "event"} & value.keys()):
        raise DefinitionError(f'{what} must be {{"url": PATTERN}} or {{"event": NAME}}, got {value!r}')
    ((kind, arg),) = value.items()
    if not isinstance(arg, str) or not arg or len(arg) > 2048:
        raise DefinitionError(f"{what}: the {kind} must be a non-empty string of at most 2048 characters")
    if kind == "event":
        return Step(event=arg)
    # Pages are stored normalised (no query string, fragment or trailing slash), so a pattern
    # copied from the address bar, like */shop/, would never match: it is normalised the same way.
    pattern = normalise_page(arg)
    if not pattern:
        raise DefinitionError(f"{what}: the url pattern {arg!r} is empty without its query string and fragment")
    return Step(url=pattern)


def _steps(steps: Any, all_errors: bool = False) -> tuple[Step, ...]:
    """The steps; with ``all_errors``, one error naming every bad step, not just the first."""
    if not isinstance(steps, list) or not 2 <= len(steps) <= MAX_STEPS:
        raise DefinitionError(f"a funnel needs 2 to {MAX_STEPS} steps")
    out, errors = [], []
    for i, s in enumerate(steps):
        try:
            out.append(parse_step(s, f"step {i + 1}"))
        except DefinitionError as e:
            if not all_errors:
                raise
            errors.append(str(e))
    if errors:
        raise DefinitionError("; ".join(errors))
    return tuple(out)


def _window(window: Any) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 31 * 86400:
        raise DefinitionError(f"window_seconds must be a whole number from 1 to {31 * 86400}, got {window!r}")
    return window


def _control(control: Any) -> str:
    if not isinstance(control, str) or not control:
        raise DefinitionError("control must be the control variant's name")
    return control


def _weights(weights: Any, control: str | None) -> dict[str, float] | None:
    """``control`` None: not known (itself invalid), so not looked for in the weights."""
    if weights is None:
        return None
    ok = (
        isinstance(weights, dict)
        and len(weights) >= 2
        and all(
            isinstance(k, str) and k.strip() and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
            for k, v in weights.items()
        )
    )
    if not ok:
        raise DefinitionError("weights must map two or more variant names to positive numbers")
    if control is not None and control not in weights:
        raise DefinitionError(f"weights must include the control variant {control!r}")
    return {k: float(v) for k, v in weights.items()}


def parse_funnel(doc: Any) -> Funnel:
    if not isinstance(doc, dict):
        raise DefinitionError("a funnel must be a JSON object")
    steps = doc.get("steps")
    if not isinstance(steps, list) or not 2 <= len(steps) <= MAX_STEPS:
        raise DefinitionError(f"a funnel needs 2 to {MAX_STEPS} steps")
    window = _window(doc.get("window_seconds", DEFAULT_WINDOW))
    return Funnel(
        name=_name(doc.get("name"), "name"),
        steps=_steps(steps),
        window_seconds=window,
        token=_token(doc.get("token")),
    )


def parse_experiment(doc: Any) -> Experiment:
    if not isinstance(doc, dict):
        raise DefinitionError("an experiment must be a JSON object")
    control = _control(doc.get("control", "control"))
    weights = _weights(doc.get("weights"), control)
    return Experiment(
        name=_name(doc.get("name"), "name"),
        goal=parse_step(doc.get("goal"), "goal"),
        control=control,
        token=_token(doc.get("token")),
        weights=weights,
    )


def parse_goal(doc: Any) -> Goal:
    if not isinstance(doc, dict):
        raise DefinitionError("a goal must be a JSON object")
    return Goal(
        name=_name(doc.get("name"), "name"), goal=parse_step(doc.get("goal"), "goal"), token=_token(doc.get("token"))
    )


def _valid_control(doc: dict) -> str | None:
    try:
        return _control(doc.get("control", "control"))
    except DefinitionError:
        return None


# Each field of a definition document, checked on its own (for problems()).
FIELD_CHECKS: dict[str, dict[str, Any]] = {
    "funnel": {
        "name": lambda d: _name(d.get("name"), "name"),
        "steps": lambda d: _steps(d.get("steps"), all_errors=True),
        "window_seconds": lambda d: _window(d.get("window_seconds", DEFAULT_WINDOW)),
        "token": lambda d: _token(d.get("token")),
    },
    "experiment": {
        "name": lambda d: _name(d.get("name"), "name"),
        "goal": lambda d: parse_step(d.get("goal"), "goal"),
        "control": lambda d: _control(d.get("control", "control")),
        "weights": lambda d: _weights(d.get("weights"), _valid_control(d)),
        "token": lambda d: _token(d.get("token")),
    },
    "goal": {
        "name": lambda d: _name(d.get("name"), "name"),
        "goal": lambda d: parse_step(d.get("goal"), "goal"),
        "token": lambda d: _token(d.get("token")),
    },
}


def problems(kind: str, doc: dict) -> dict[str, str]:
    """Every problem of a ``kind`` definition document, by field, each field checked on its own
    (``parse_funnel`` and ``parse_experiment`` stop at the first), so that a form can show
    each error beside its field. Empty when the document parses."""
    out = {}
    for name, check in FIELD_CHECKS[kind].items():
        try:
            check(doc)
        except DefinitionError as e:
            out[name] = str(e)
    return out


def check_shares(weights: dict[str, float] | None) -> None:
    """For a new definition: weights are shares of the traffic, so they add up to at most 1.
    (Stored definitions are not held to it: older ones may give a ratio such as 1:3.)"""
    if weights and (total := sum(weights.values())) > 1 + 1e-9:
        raise DefinitionError(f"weights are shares of the traffic (0.5 for half) and add up to {total:g}, more than 1")


PARSERS = {"funnel": parse_funnel, "experiment": parse_experiment, "goal": parse_goal}


class Definitions:
    """Funnels and experiments in Redis (any redis-py compatible client)."""

    def __init__(self, redis: Any):
        self.redis = redis

    @staticmethod
    def key(kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        return DEFINITIONS + kind

    def put(self, kind: str, definition: Funnel | Experiment | Goal) -> None:
        self.redis.hset(self.key(kind), definition.name, json.dumps(definition.to_json(), sort_keys=True))

    def remove(self, kind: str, name: str) -> bool:
        return bool(self.redis.hdel(self.key(kind), name))

    def all(self, kind: str) -> list[Any]:
        """Every valid definition of ``kind``, sorted by name. Broken entries are skipped."""
        out = []
        for _name, raw in sorted(self.redis.hgetall(self.key(kind)).items()):
            try:
                out.append(PARSERS[kind](json.loads(raw)))
            except (ValueError, DefinitionError):
                continue
        return out

    def funnels(self, token: str | None = None) -> list[Funnel]:
        return [f for f in self.all("funnel") if f.token in (None, token) or token is None]

    def experiments(self, token: str | None = None) -> list[Experiment]:
        return [e for e in self.all("experiment") if e.token in (None, token) or token is None]

    def goals(self, token: str | None = None) -> list[Goal]:
        return [g for g in self.all("goal") if g.token in (None, token) or token is None]
