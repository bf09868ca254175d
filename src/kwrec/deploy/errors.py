"""What can go wrong while deploying, verifying or rolling back, each with a message for on-call."""

from __future__ import annotations

from kwrec.errors import KwrecError


class DeployError(KwrecError):
    """A deploy or rollback did not make the release live; the previous release keeps serving."""


class DeployInProgressError(DeployError):
    """Another deploy holds the target's lease, or won the race for the target's alias record."""

    exit_code = 3


class VerificationError(DeployError):
    """The API answers, but not as the release promises (wrong version, golden queries, latency)."""


class TargetError(DeployError):
    """The target itself (engine, proxy, ECS) refused or failed an operation."""
