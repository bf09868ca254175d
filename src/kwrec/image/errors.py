"""Errors of building and pushing release images. All are user-facing :class:`KwrecError` subclasses."""

from __future__ import annotations

from kwrec.errors import KwrecError


class EngineError(KwrecError):
    """The Docker Engine cannot be reached or refused a request outside a build or push."""


class BuildError(KwrecError):
    """The image build failed (a step failed, the stream ended without an image id, ...)."""


class WheelError(KwrecError):
    """The kwrec wheel or the dependency wheels could not be produced on the host."""


class PushError(KwrecError):
    """The push failed, or the registry does not hold what the push reported."""


class RegistryUnavailableError(PushError):
    """The registry did not answer or answered with a server error (worth retrying)."""


class RegistryAuthError(PushError):
    """The registry refused the credentials (never retried: the same credentials fail again)."""


class TagConflictError(PushError):
    """The tag already exists in the registry with another digest."""

    exit_code = 3
