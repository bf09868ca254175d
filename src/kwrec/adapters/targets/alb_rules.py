"""Routing a sharded release on ECS: an ALB listener's rules send each customer to its shard's service.

The listener's default action forwards to the default shard (s000, the configured service), so its
customers need no rule. Every other customer gets a ``path-pattern`` value ``/v1/<customer>/*`` in a
rule forwarding to its shard's target group, five values to a rule (the ALB limit on condition values).
Each other shard also gets one ``http-header`` rule (``X-Kwrec-Shard: sNNN``), so ``kwrec verify``
can ask each shard for its own ``/version`` and ``/readyz`` through the same load balancer.

kwrec owns the rules whose priority lies in ``[base, base + PRIORITY_SPAN)`` and leaves every other
rule alone. The plan is stable: a customer that stays on its shard stays in its rule, so a day that
adds customers only fills free slots and adds rules; nobody is routed elsewhere while rules change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kwrec.errors import ConfigError

#: ALB: at most five condition values per rule.
VALUES_PER_RULE = 5
#: kwrec's priorities: header rules at base + shard number, customer rules from base + 1000.
PRIORITY_SPAN = 10_000
_PATH_OFFSET = 1_000
SHARD_HEADER = "X-Kwrec-Shard"


def customer_pattern(customer: str) -> str:
    return f"/v1/{customer}/*"


def _customer_of(pattern: str) -> str | None:
    if pattern.startswith("/v1/") and pattern.endswith("/*"):
        inner = pattern[4:-2]
        return inner if inner and "/" not in inner else None
    return None


@dataclass(frozen=True)
class Rule:
    """One of kwrec's listener rules: a shard's header rule, or up to five of a shard's customers."""

    priority: int
    shard: str
    customers: tuple[str, ...] = ()
    arn: str | None = field(default=None, compare=False)

    @property
    def is_header(self) -> bool:
        return not self.customers

    def conditions(self) -> list[dict[str, Any]]:
        if self.is_header:
            return [
                {
                    "Field": "http-header",
                    "HttpHeaderConfig": {"HttpHeaderName": SHARD_HEADER, "Values": [self.shard]},
                }
            ]
        return [
            {
                "Field": "path-pattern",
                "PathPatternConfig": {"Values": [customer_pattern(c) for c in self.customers]},
            }
        ]


@dataclass
class RulePlan:
    create: list[Rule]
    modify: list[Rule]
    delete: list[Rule]
    desired: list[Rule]

    @property
    def empty(self) -> bool:
        return not (self.create or self.modify or self.delete)


def parse_rules(raw: Iterable[dict[str, Any]], shard_of_group: dict[str, str], base: int) -> list[Rule]:
    """kwrec's rules among a listener's (``describe_rules``), as :class:`Rule`; a rule in kwrec's range
    that forwards elsewhere or matches something else comes back with shard ``""`` (to be replaced)."""
    rules = []
    for r in raw:
        if r.get("IsDefault") or not str(r.get("Priority", "")).isdigit():
            continue
        priority = int(r["Priority"])
        if not base <= priority < base + PRIORITY_SPAN:
            continue
        forwards = [a.get("TargetGroupArn") for a in r.get("Actions", []) if a.get("Type") == "forward"]
        shard = shard_of_group.get(str(forwards[0])) if len(forwards) == 1 else None
        customers: list[str] = []
        header: list[str] = []
        for cond in r.get("Conditions", []):
            if cond.get("Field") == "path-pattern":
                values = (cond.get("PathPatternConfig") or {}).get("Values") or cond.get("Values") or []
                customers += [c for c in map(_customer_of, values) if c]
            elif cond.get("Field") == "http-header":
                header += (cond.get("HttpHeaderConfig") or {}).get("Values") or []
        ok = shard is not None and ((header == [shard] and not customers) or (bool(customers) and not header))
        rules.append(Rule(priority, shard if ok and shard else "", tuple(customers), arn=r.get("RuleArn")))
    return sorted(rules, key=lambda rule: rule.priority)


def plan_rules(
    existing: list[Rule],
    assignment: dict[str, str],
    shards: Iterable[str],
    default: str,
    base: int,
) -> RulePlan:
    """The rules that route ``assignment`` (customer -> shard), changing as few of ``existing`` as can be."""
    wanted = {c: s for c, s in assignment.items() if s != default}
    placed: set[str] = set()
    kept: list[Rule] = []
    for rule in existing:
        if rule.is_header or not rule.shard:
            continue
        stay = tuple(c for c in rule.customers if wanted.get(c) == rule.shard and c not in placed)
        placed.update(stay)
        if stay:
            kept.append(Rule(rule.priority, rule.shard, stay, arn=rule.arn))
    waiting: dict[str, list[str]] = {}
    for customer in sorted(wanted):
        if customer not in placed:
            waiting.setdefault(wanted[customer], []).append(customer)
    path_rules: list[Rule] = []
    for rule in kept:  # fill free slots of a shard's rules first
        more = waiting.get(rule.shard, [])
        room = VALUES_PER_RULE - len(rule.customers)
        take, waiting[rule.shard] = more[:room], more[room:]
        path_rules.append(Rule(rule.priority, rule.shard, rule.customers + tuple(take), arn=rule.arn))
    taken = {r.priority for r in path_rules}
    free = (p for p in range(base + _PATH_OFFSET, base + PRIORITY_SPAN) if p not in taken)
    for shard in sorted(waiting):
        rest = waiting[shard]
        for i in range(0, len(rest), VALUES_PER_RULE):
            priority = next(free, None)
            if priority is None:
                raise ConfigError(f"more than {PRIORITY_SPAN - _PATH_OFFSET} listener rules needed")
            path_rules.append(Rule(priority, shard, tuple(rest[i : i + VALUES_PER_RULE])))
    headers = [Rule(base + int(s[1:]), s) for s in sorted(set(shards)) if s != default]
    desired = sorted(headers + path_rules, key=lambda r: r.priority)
    by_priority = {r.priority: r for r in existing}
    create, modify = [], []
    for rule in desired:
        old = by_priority.get(rule.priority)
        if old is None:
            create.append(rule)
        elif old != rule:
            modify.append(Rule(rule.priority, rule.shard, rule.customers, arn=old.arn))
    delete = [r for r in existing if r.priority not in {d.priority for d in desired}]
    return RulePlan(create, modify, delete, desired)


def check_quota(plan: RulePlan, others: int, limit: int, listener: str) -> None:
    """Refuse, before anything changes, a plan the listener cannot hold."""
    total = len(plan.desired) + others
    if total > limit:
        raise ConfigError(
            f"routing this release needs {len(plan.desired)} rules on listener {listener} "
            f"({others} other rules already there): more than its limit of {limit}",
            hint="raise the ALB quota 'Rules per Application Load Balancer' and set "
            "KWREC_DEPLOY__ECS__MAX_LISTENER_RULES, or use fewer shards (customers in the default "
            "shard need no rule)",
        )
