"""Known answers for goals: custom events and defined url/event goals, on both engines."""

from __future__ import annotations

import pytest

from analysis import run
from analysis.definitions import DefinitionError, parse_goal

from .conftest import event, load_events

SITE = "https://site.example"
EVENTS = [
    event(event_id="a1", user_key="a", type="pageview", current_page=SITE + "/pricing/?plan=pro"),
    event(event_id="a2", user_key="a", type="custom", name="purchase"),
    event(event_id="a3", user_key="a", type="custom", name="purchase"),
    event(event_id="b1", user_key="b", type="pageview", current_page=SITE + "/"),
    event(event_id="b2", user_key="b", type="custom", name="signup"),
    event(event_id="c1", user_key="c", type="click", current_page=SITE + "/pricing"),  # a click is no page view
    event(event_id="d1", user_key="d", type="pageview", current_page=SITE + "/pricing"),
]


def test_custom_events_and_defined_goals_with_conversion(engine, tmp_path):
    loaded = load_events(engine, tmp_path, EVENTS)
    goals = [
        parse_goal({"name": "saw_pricing", "goal": "url:*/pricing/"}),  # normalised like pages
        parse_goal({"name": "bought", "goal": "event:purchase"}),
        parse_goal({"name": "elsewhere", "goal": "event:purchase", "token": "other"}),
    ]
    (doc,) = run.compute(loaded, ["goals"], goals=goals).values()
    loaded.release()
    assert doc["users"] == 4
    assert doc["events"] == [
        {"name": "purchase", "count": 2, "users": 1, "conversion": 0.25},
        {"name": "signup", "count": 1, "users": 1, "conversion": 0.25},
    ]
    found = {g["goal"]["name"]: (g["count"], g["users"], g["conversion"]) for g in doc["goals"]}
    assert found == {"saw_pricing": (2, 2, 0.5), "bought": (2, 1, 0.25)}


def test_a_goal_is_a_url_pattern_or_an_event():
    assert parse_goal({"name": "g", "goal": "url:*/shop/?q=1"}).goal.url == "*/shop"
    with pytest.raises(DefinitionError, match="goal must look like"):
        parse_goal({"name": "g", "goal": "click:#buy"})
