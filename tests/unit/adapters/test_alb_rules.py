"""The ALB listener rules of a sharded release: each customer reaches its shard, few rules change."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kwrec.adapters.targets.alb_rules import (
    SHARD_HEADER,
    VALUES_PER_RULE,
    Rule,
    RulePlan,
    check_quota,
    parse_rules,
    plan_rules,
)
from kwrec.errors import ConfigError

BASE = 40_000
GROUPS = {f"s{i:03d}": f"arn:tg/{i}" for i in range(12)}


def apply(existing: list[Rule], plan: RulePlan) -> list[Rule]:
    """The listener's kwrec rules after the plan (what the ECS target does with the API)."""
    by_priority = {r.priority: r for r in existing}
    for rule in plan.create + plan.modify:
        by_priority[rule.priority] = Rule(rule.priority, rule.shard, rule.customers, arn=f"r{rule.priority}")
    for rule in plan.delete:
        del by_priority[rule.priority]
    return sorted(by_priority.values(), key=lambda r: r.priority)


def route(rules: list[Rule], customer: str, default: str = "s000") -> str:
    """Where the ALB sends /v1/<customer>/suggest: the first (lowest priority) rule that matches."""
    for rule in rules:
        if customer in rule.customers:
            return rule.shard
    return default


def fleet(customers: int, shards: int, seed: int = 0) -> dict[str, str]:
    rng = random.Random(seed)
    return {f"c{i:04d}": f"s{rng.randrange(shards):03d}" for i in range(customers)}


def test_every_customer_reaches_its_shard_and_rules_hold_at_most_five() -> None:
    assignment = fleet(230, 4)
    plan = plan_rules([], assignment, {"s000", "s001", "s002", "s003"}, "s000", BASE)
    rules = apply([], plan)
    assert all(route(rules, c) == s for c, s in assignment.items())
    assert all(len(r.customers) <= VALUES_PER_RULE for r in rules)
    # Customers of the default shard need no rule; every other shard has one header rule.
    non_default = sum(1 for s in assignment.values() if s != "s000")
    headers = [r for r in rules if r.is_header]
    assert sorted(r.shard for r in headers) == ["s001", "s002", "s003"]
    assert len(rules) - len(headers) == sum(
        -(-sum(1 for s in assignment.values() if s == shard) // VALUES_PER_RULE)
        for shard in ("s001", "s002", "s003")
    )
    assert non_default > 0
    assert plan.delete == [] and plan.modify == []


def test_a_new_customer_fills_a_free_slot_and_nobody_else_moves() -> None:
    assignment = {f"c{i}": "s001" for i in range(7)}  # two rules: 5 + 2
    rules = apply([], plan_rules([], assignment, ["s000", "s001"], "s000", BASE))
    before = {r.priority: r.customers for r in rules}
    assignment["zz-new"] = "s001"
    plan = plan_rules(rules, assignment, ["s000", "s001"], "s000", BASE)
    assert plan.create == [] and plan.delete == []
    assert len(plan.modify) == 1 and plan.modify[0].customers[-1] == "zz-new"
    after = apply(rules, plan)
    # Every customer that was routed stays in the same rule (no window in which it falls through).
    for priority, customers in before.items():
        assert set(customers) <= set(next(r.customers for r in after if r.priority == priority))
    assert route(after, "zz-new") == "s001"


def test_moving_and_removing_customers_changes_only_their_rules() -> None:
    assignment = fleet(60, 3, seed=1)
    shards = ["s000", "s001", "s002"]
    rules = apply([], plan_rules([], assignment, shards, "s000", BASE))
    moved = next(c for c, s in assignment.items() if s == "s002")
    gone = next(c for c, s in assignment.items() if s == "s001")
    assignment[moved] = "s001"
    del assignment[gone]
    plan = plan_rules(rules, assignment, shards, "s000", BASE)
    after = apply(rules, plan)
    assert all(route(after, c) == s for c, s in assignment.items())
    assert route(after, gone) == "s000"  # unknown to the release: the default shard answers 404
    assert len(plan.create) + len(plan.modify) + len(plan.delete) <= 3
    # The same assignment again: nothing to do (a deploy of an unchanged fleet touches no rule).
    assert plan_rules(after, assignment, shards, "s000", BASE).empty


def test_all_customers_back_on_the_default_shard_removes_every_rule() -> None:
    assignment = fleet(20, 2)
    rules = apply([], plan_rules([], assignment, ["s000", "s001"], "s000", BASE))
    plan = plan_rules(rules, {}, ["s000"], "s000", BASE)
    assert plan.create == [] and len(plan.delete) == len(rules)


def _raw(priority: str, values: list[str] | None, tg: str, header: list[str] | None = None) -> dict[str, Any]:
    conditions = []
    if values is not None:
        conditions.append({"Field": "path-pattern", "PathPatternConfig": {"Values": values}})
    if header is not None:
        conditions.append(
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": SHARD_HEADER, "Values": header}}
        )
    return {
        "RuleArn": f"arn:rule/{priority}",
        "Priority": priority,
        "IsDefault": priority == "default",
        "Conditions": conditions,
        "Actions": [{"Type": "forward", "TargetGroupArn": tg}],
    }


def test_parse_reads_kwrec_rules_only_and_marks_foreign_ones_in_its_range() -> None:
    shard_of = {v: k for k, v in GROUPS.items()}
    raw = [
        _raw("default", None, GROUPS["s000"]),
        _raw("10", ["/admin/*"], "arn:tg/admin"),  # the operator's own rule: not ours
        _raw(str(BASE + 1), None, GROUPS["s001"], header=["s001"]),
        _raw(str(BASE + 1000), ["/v1/a/*", "/v1/b/*"], GROUPS["s001"]),
        _raw(str(BASE + 1001), ["/v1/c/*"], "arn:tg/unknown"),  # in our range, forwards elsewhere
    ]
    rules = parse_rules(raw, shard_of, BASE)
    assert [r.priority for r in rules] == [BASE + 1, BASE + 1000, BASE + 1001]
    assert rules[0].is_header and rules[0].shard == "s001"
    assert rules[1].customers == ("a", "b") and rules[1].shard == "s001"
    assert rules[2].shard == ""  # replaced by the next plan
    plan = plan_rules(rules, {"a": "s001", "b": "s001", "c": "s001"}, ["s000", "s001"], "s000", BASE)
    after = apply(rules, plan)
    assert {route(after, c) for c in "abc"} == {"s001"}
    assert all(r.shard for r in after)


def test_the_quota_is_checked_before_anything_changes() -> None:
    assignment = {f"c{i:04d}": f"s{1 + i % 9:03d}" for i in range(900)}  # 1,000 customers, 10 shards
    plan = plan_rules([], assignment, [f"s{i:03d}" for i in range(10)], "s000", BASE)
    assert len(plan.desired) == 9 + 180
    with pytest.raises(ConfigError, match=r"189 rules .* limit of 100") as err:
        check_quota(plan, others=0, limit=100, listener="arn:listener/x")
    assert "MAX_LISTENER_RULES" in (err.value.hint or "")
    check_quota(plan, others=10, limit=200, listener="arn:listener/x")
    with pytest.raises(ConfigError):
        check_quota(plan, others=12, limit=200, listener="arn:listener/x")
