"""Deploy targets: where a release runs. One module per kind behind the :class:`Target` protocol.

- :mod:`kwrec.adapters.targets.docker_host`: one Docker host, containers behind a local nginx
  (:mod:`kwrec.adapters.targets.nginx`) on the stable port.
- :mod:`kwrec.adapters.targets.ecs`: an AWS ECS service, a task-definition revision pinned by digest.

A deploy is prepare (the new release answers beside the live one) -> promote (it takes the traffic) ->
retire (the old one stops). A release is cut into shards (:mod:`kwrec.core.shards`); a deploy starts only
the shards that changed, and switches them all at once. restore undoes a promote, discard drops a
prepared release. reconcile makes
the target serve what the records say is live after a deploy died half-way (its lease was taken over);
live_problem says why the recorded live release does not serve (so a deploy of it repairs instead of
answering "already live").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kwrec.core.manifest import WHOLE_RELEASE, Manifest


def shards_of(details: dict[str, Any], legacy: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The per-shard part of a deployment's details.

    Details written before shards are one flat dict: shard s000's, with the ``legacy`` keys (the first
    one names the instance, so its absence means nothing was deployed).
    """
    if isinstance(details.get("shards"), dict):
        return {str(k): dict(v) for k, v in sorted(details["shards"].items())}
    if details.get(legacy[0]):
        return {WHOLE_RELEASE: {k: details[k] for k in legacy if k in details}}
    return {}


RULES_DIR_IN_CONTAINER = "/srv/kwrec-rules"


@dataclass(frozen=True)
class RulesWiring:
    """How a target's serving replicas reach the live rules (``kwrec block``/``pin``).

    ``env`` goes into every container; ``host_store`` (a local store) is bind-mounted read-only at
    :data:`RULES_DIR_IN_CONTAINER` (its ``rules/`` directory only), which ``env`` then names.
    """

    env: dict[str, str] = field(default_factory=dict)
    host_store: str | None = None


NO_RULES = RulesWiring(env={"KWREC_RULES__ENABLED": "false"})


@dataclass
class Prepared:
    """A release started on a target but not yet (or just) given the traffic."""

    version: str
    url: str  # where the release answers once it has the traffic (the target's endpoint)
    details: dict[str, Any]
    switched: bool = False
    # shard -> where its new instance answers before it takes traffic (verified there first); empty
    # where the target moves traffic as it starts the release (ECS), or when no shard changed
    direct: dict[str, str] = field(default_factory=dict)
    # shards this deploy gave a new instance (ECS: a new task definition; docker: those in ``direct``)
    redeployed: list[str] = field(default_factory=list)


class Target(Protocol):
    kind: str
    # a header the endpoint routes on to reach one shard (its /version, /readyz), or None where the
    # endpoint itself answers for the whole fleet (the docker target's nginx)
    shard_header: str | None

    @property
    def public_url(self) -> str: ...
    def prepare(self, manifest: Manifest) -> Prepared: ...
    def promote(self, prepared: Prepared) -> None: ...
    def restore(self, prepared: Prepared, previous: dict[str, Any]) -> None: ...
    def discard(self, prepared: Prepared) -> None: ...
    def retire(self, previous: dict[str, Any], current: dict[str, Any], keep_version: str | None) -> None: ...
    def prune(self, keep: set[str]) -> list[str]: ...
    def reconcile(self, live: dict[str, Any], keep: set[str]) -> list[str]: ...
    def live_problem(self, live: dict[str, Any]) -> str | None: ...
