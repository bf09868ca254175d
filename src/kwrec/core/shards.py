"""Cutting a release's customers into shards, and a shard's customers into image layers.

A shard is a group of customers served by one image and one process. Assignments are sticky: a
customer keeps yesterday's shard, so a day on which a few customers changed rebuilds and redeploys only
the shards that hold them. New customers go to the least-loaded shard (by model bytes, then by count)
that still has room; when none has, a new shard opens. ``rebalance`` recomputes everything (largest
customer first onto the least-loaded shard), and is only done when an operator asks.

Inside one image, each customer's model is one layer, so an unchanged customer is a layer the registry
already holds. overlay2 limits an image's depth, so past ``layers`` customers the shard's customers are
packed into ``layers`` groups by a hash of their id, which is stable from day to day.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

SHARD_RE = re.compile(r"^s\d{3}$")


def shard_name(index: int) -> str:
    return f"s{index:03d}"


@dataclass(frozen=True)
class ShardPolicy:
    shards: int = 1  # fewest shards
    max_customers: int = 100
    max_bytes: int | None = None

    def fits(self, customers: int, model_bytes: int, extra_bytes: int) -> bool:
        if customers + 1 > self.max_customers:
            return False
        return self.max_bytes is None or customers == 0 or model_bytes + extra_bytes <= self.max_bytes


def assign_shards(
    sizes: Mapping[str, int],
    previous: Mapping[str, str],
    policy: ShardPolicy,
    *,
    rebalance: bool = False,
) -> dict[str, str]:
    """customer -> shard for every customer of ``sizes`` (model bytes each).

    ``previous`` is yesterday's assignment; kept for every customer still present unless ``rebalance``.
    A shard that lost all its customers disappears; the shards that stay keep their names.
    """
    kept = {} if rebalance else {c: s for c, s in previous.items() if c in sizes and SHARD_RE.fullmatch(s)}
    want = max(
        policy.shards,
        math.ceil(len(sizes) / policy.max_customers),
        math.ceil(sum(sizes.values()) / policy.max_bytes) if policy.max_bytes else 1,
    )
    names = sorted(set(kept.values()))
    next_index = max((int(n[1:]) for n in names), default=-1) + 1
    while len(names) < want:  # open the shards the policy asks for that do not exist yet
        names.append(shard_name(next_index))
        next_index += 1
    load = {n: [0, 0] for n in names}  # shard -> [model bytes, customers]
    for c, s in kept.items():
        load[s][0] += sizes[c]
        load[s][1] += 1
    out = dict(kept)
    # Largest first: the classic greedy (LPT) that keeps the heaviest shard light.
    for c in sorted((c for c in sizes if c not in kept), key=lambda c: (-sizes[c], c)):
        room = [n for n in names if policy.fits(load[n][1], load[n][0], sizes[c])]
        if not room:
            room = [shard_name(next_index)]
            names.append(room[0])
            load[room[0]] = [0, 0]
            next_index += 1
        best = min(room, key=lambda n: (load[n][0], load[n][1], n))
        out[c] = best
        load[best][0] += sizes[c]
        load[best][1] += 1
    return out


def group_customers(customers: Mapping[str, str], shard: str) -> list[str]:
    """The customers of ``shard`` in ``customers`` (customer -> shard), sorted."""
    return sorted(c for c, s in customers.items() if s == shard)


def layer_groups(customers: list[str], layers: int) -> list[list[str]]:
    """The customers of one image cut into at most ``layers`` layers (one each when they fit)."""
    ordered = sorted(customers)
    if len(ordered) <= layers:
        return [[c] for c in ordered]
    groups: dict[int, list[str]] = {}
    for c in ordered:
        groups.setdefault(int(hashlib.sha256(c.encode()).hexdigest()[:8], 16) % layers, []).append(c)
    return [groups[k] for k in sorted(groups)]


def shard_fingerprint(artifacts: Mapping[str, str], code_version: str, base_image: str = "") -> str:
    """What a shard image is built from: its customers' artifact checksums, the code, the base image.

    Two releases whose shard has the same fingerprint can share that shard's image.
    """
    h = hashlib.sha256()
    for c in sorted(artifacts):
        h.update(f"{c}={artifacts[c]}\n".encode())
    h.update(f"code={code_version}\nbase={base_image}\n".encode())
    return "sha256:" + h.hexdigest()
