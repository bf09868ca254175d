"""Errors a user can cause and fix. The CLI prints these as one clear message (never a traceback)."""

from __future__ import annotations


class KwrecError(Exception):
    """Base of every error kwrec reports to a user: ``str(err)`` says what is wrong and what to do."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidIdentifierError(KwrecError):
    """A customer id, release version or timestamp from outside is not of the accepted form."""

    exit_code = 2


class ConfigError(KwrecError):
    """A settings file, a customer config or an option has a wrong value."""

    exit_code = 2


class DataError(KwrecError):
    """A customer's input cannot be used at all (empty, wholly invalid, unreadable)."""


class ArtifactError(KwrecError):
    """A stored artifact is missing, corrupted (checksum mismatch) or of an unknown format."""


class ReleaseNotFoundError(KwrecError):
    """The requested release version does not exist in the store."""


class UnknownCustomerError(KwrecError):
    """The customer is not part of the release."""


class StoreError(KwrecError):
    """The artifact store (directory or S3) could not be read or written."""
