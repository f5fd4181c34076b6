"""The filter box's grammar (tracker.api._filter_text) and the runs its dict selects through Api."""

from __future__ import annotations

from typing import Any

import pytest

from tracker.api import Api
from tracker.api._filter_text import parse_filter
from tracker.errors import FilterSyntaxError, UsageError

T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("   ", {}),
        ("config.lr > 1e-3", {"config.lr": {"$gt": 0.001}}),
        ("config.lr>=0.1", {"config.lr": {"$gte": 0.1}}),
        ("config.lr<=0.1", {"config.lr": {"$lte": 0.1}}),
        ("summary.val/loss<0.6", {"summary_metrics.val/loss": {"$lt": 0.6}}),
        ("summary_metrics.acc>.5", {"summary_metrics.acc": {"$gt": 0.5}}),
        ("state=finished", {"state": {"$eq": "finished"}}),
        ("state==failed", {"state": {"$eq": "failed"}}),
        ("config.opt!=adam", {"config.opt": {"$exists": True, "$ne": "adam"}}),
        ("tags:baseline", {"tags": {"$eq": "baseline"}}),
        ("name~^bert", {"display_name": {"$regex": "^bert"}}),
        ("name!~'^bert'", {"display_name": {"$exists": True, "$not": {"$regex": "^bert"}}}),
        ("id=abc123", {"name": {"$eq": "abc123"}}),
        ('config.note="a b (c)"', {"config.note": {"$eq": "a b (c)"}}),
        (r"config.q='it\'s'", {"config.q": {"$eq": "it's"}}),
        (
            "config.flag=true config.x=null",
            {"$and": [{"config.flag": {"$eq": True}}, {"config.x": {"$eq": None}}]},
        ),
        ("config.n=-3", {"config.n": {"$eq": -3}}),
        ("config.seed=007", {"config.seed": {"$eq": 7}}),
        ("created>2026-01-01", {"created_at": {"$gt": "2026-01-01"}}),
        ("lr<0.001", {"$or": [{"summary_metrics.lr": {"$lt": 0.001}}, {"config.lr": {"$lt": 0.001}}]}),
        (
            "state=finished or state=failed",
            {"$or": [{"state": {"$eq": "finished"}}, {"state": {"$eq": "failed"}}]},
        ),
        (
            "(state=finished OR state=failed) AND config.lr>0.01",
            {
                "$and": [
                    {"$or": [{"state": {"$eq": "finished"}}, {"state": {"$eq": "failed"}}]},
                    {"config.lr": {"$gt": 0.01}},
                ]
            },
        ),
        ("not state=running", {"$nor": [{"state": {"$eq": "running"}}]}),
    ],
)
def test_parse(text: str, expected: dict[str, Any]) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("summary.loss < ", 15, "expected a value after '<' at 15, found the end"),
        ("config.lr", 9, "expected an operator (=, !=, <, <=, >, >=, ~, !~, :) after 'config.lr' at 9"),
        ("<3", 0, "expected a condition (key op value) at 0, found '<'"),
        ("state=finished or", 17, "expected a condition (key op value) after 'or' at 17"),
        ("(state=finished", 15, "expected ')' to close the '(' at 0, found the end at 15"),
        ("state=finished)", 14, "unexpected ')' at 14"),
        ('name="bert', 5, "unterminated string starting at 5"),
        ("config.lr ! 3", 10, "unknown operator '!' at 10: use != or !~"),
        ("config.lr => 3", 11, "expected a value after '=' at 11, found '>'"),
        ("name~'(unclosed'", 5, "invalid regex at 5"),
    ],
)
def test_errors_name_the_position(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert str(info.value).startswith(message)
    assert isinstance(info.value, UsageError)


@pytest.fixture
def api(logs: Any) -> Api:
    """Four runs: two with val/loss (0.5, 0.7), two without it (an artifact and an eval job)."""
    logs.run(
        "p", "low", created=T0 + 1, name="low", tags=["base"], config={"lr": 0.0001, "opt": "adam"}
    ).summary({"val/loss": 0.5}).exit()
    logs.run("p", "high", created=T0 + 2, name="high", config={"lr": 0.01, "opt": "sgd"}).summary(
        {"val/loss": 0.7}
    ).exit()
    logs.run("p", "art", created=T0 + 3, name="art", job_type="artifact").summary({"rows": 3}).exit()
    logs.run("p", "ev", created=T0 + 4, name="ev", config={"lr": 0.0005}).summary(
        {"acc": 0.9, "lr": 0.5}
    ).exit()
    return Api()


def _ids(api: Api, text: str) -> list[str]:
    return [r.id for r in api.runs("p", filters=parse_filter(text), order="+created_at")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("summary.val/loss<0.6", ["low"]),  # the issue: runs without val/loss matched
        ("summary.val/loss>=0", ["low", "high"]),
        ("summary.val/loss!=0.7", ["low"]),  # != on a missing key does not match either
        ("config.opt!=adam", ["high"]),
        ("not config.opt=adam", ["high", "art", "ev"]),  # negation of a condition does
        ("config.lr > 1e-3", ["high"]),  # the issue: ignored without a message
        ("lr<0.001", ["low", "ev"]),  # bare key: summary lr (0.5) or config lr (0.0005)
        ("val/loss<0.6", ["low"]),
        ("tags:base", ["low"]),
        ("name~'^(low|art)$' or config.lr=0.01", ["low", "high", "art"]),
        ("state=finished config.opt~^s", ["high"]),
    ],
)
def test_text_filters_through_api(api: Api, text: str, expected: list[str]) -> None:
    assert _ids(api, text) == expected


@pytest.mark.parametrize("op", ["$lt", "$lte", "$gt", "$gte", "$eq", "$regex"])
def test_a_missing_key_never_satisfies_a_comparison(api: Api, op: str) -> None:
    value: Any = "." if op == "$regex" else 0.5
    found = {r.id for r in api.runs("p", filters={"summary_metrics.val/loss": {op: value}})}
    assert found <= {"low", "high"}
    assert {
        r.id for r in api.runs("p", filters={"summary_metrics.val/loss": {"$exists": True, "$ne": 0.7}})
    } == {"low"}
