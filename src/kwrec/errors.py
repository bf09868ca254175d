"""Every error kwrec reports to a user, in one place, each saying whether a retry can help.

The CLI prints these as one clear line (never a traceback). ``retryable`` is the one answer to "may this
be tried again?": the Airflow DAG fails a task at once on a non-retryable error instead of retrying it
for an hour, and the registry retry loop retries only retryable ones. A class sets the default; an
instance may override it (a deploy failure is as retryable as the failure that caused it).

    class                               retryable  exit
    KwrecError                          no         1   the base: what is wrong and what to do
    +-- InvalidIdentifierError          no         2   a customer id, version or timestamp of a wrong form
    +-- ConfigError                     no         2   a settings file, customer config or option is wrong
    +-- DataError                       no         1   a customer's input cannot be used at all
    +-- RuleError                       no         2   a live-rule command is wrong or removes nothing
    +-- ArtifactError                   no         1   a stored artifact or record is missing or corrupt
    +-- ReleaseNotFoundError            no         1   no such release version in the store
    +-- UnknownCustomerError            no         1   the customer is not part of the release
    +-- StoreError                      yes        1   the store (directory, S3) could not be read/written
    |   +-- StoreNotFound               no         1   a key or directory is absent
    +-- RunInProgressError              yes        3   another release chain holds the store's lock
    +-- ChainStepError                  (cause)    (cause)  a step of the release chain failed
    +-- EngineError                     yes        1   the Docker Engine is unreachable or refused
    +-- BuildError                      no         1   the image build failed
    +-- WheelError                      yes        1   the wheels for the image could not be made
    +-- PushError                       yes        1   the push failed or the registry disagrees
    |   +-- RegistryUnavailableError    yes        1   the registry is down or answered 5xx
    |   +-- RegistryAuthError           no         1   the registry refused the credentials
    |   +-- TagConflictError            no         3   the tag exists with another digest
    +-- DeployError                     yes        1   a deploy or rollback did not go live
        +-- DeployInProgressError       yes        3   another deploy holds the target
        +-- VerificationError           no         1   the API answers, but not as the release promises
        +-- TargetError                 yes        1   the target (engine, nginx, ECS) failed an operation
"""

from __future__ import annotations


class KwrecError(Exception):
    """Base of every error kwrec reports to a user: ``str(err)`` says what is wrong and what to do."""

    exit_code: int = 1
    #: Whether repeating the same operation unchanged can succeed (a passing outage, a busy lock).
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def is_retryable(exc: BaseException) -> bool:
    """Whether a retry can help: a kwrec error says so itself; anything else (a crash) may be passing."""
    return exc.retryable if isinstance(exc, KwrecError) else True


# ---- input and configuration: the user must change something ----------------------------------------


class InvalidIdentifierError(KwrecError):
    """A customer id, release version or timestamp from outside is not of the accepted form."""

    exit_code = 2


class ConfigError(KwrecError):
    """A settings file, a customer config or an option has a wrong value."""

    exit_code = 2


class DataError(KwrecError):
    """A customer's input cannot be used at all (empty, wholly invalid, unreadable)."""


class RuleError(KwrecError):
    """A live-rule command that cannot be carried out as given (bad input, or nothing to remove)."""

    exit_code = 2


# ---- the store and what it holds ---------------------------------------------------------------------


class ArtifactError(KwrecError):
    """A stored artifact is missing, corrupted (checksum mismatch) or of an unknown format."""


class ReleaseNotFoundError(KwrecError):
    """The requested release version does not exist in the store."""


class UnknownCustomerError(KwrecError):
    """The customer is not part of the release."""


class StoreError(KwrecError):
    """The artifact store (directory or S3) could not be read or written."""

    retryable = True


class StoreNotFound(StoreError):
    """A key or a published directory is absent from the store."""

    retryable = False


# ---- the release chain -------------------------------------------------------------------------------


class RunInProgressError(KwrecError):
    """Another release chain holds the store's lock."""

    exit_code = 3
    retryable = True


class ChainStepError(KwrecError):
    """A step of the release chain failed; the live release keeps serving."""

    def __init__(self, step: str, cause: KwrecError | str, *, hint: str | None = None) -> None:
        text = str(cause)
        retryable = cause.retryable if isinstance(cause, KwrecError) else True
        super().__init__(f"step {step} failed: {text}", hint=hint, retryable=retryable)
        self.step = step
        self.cause = str(cause)
        self.exit_code = cause.exit_code if isinstance(cause, KwrecError) else 1


# ---- images: engine, build, registries ---------------------------------------------------------------


class EngineError(KwrecError):
    """The Docker Engine cannot be reached or refused a request outside a build or push."""

    retryable = True


class BuildError(KwrecError):
    """The image build failed (a step failed, the stream ended without an image id, ...)."""


class WheelError(KwrecError):
    """The kwrec wheel or the dependency wheels could not be produced on the host."""

    retryable = True


class PushError(KwrecError):
    """The push failed, or the registry does not hold what the push reported."""

    retryable = True


class RegistryUnavailableError(PushError):
    """The registry did not answer or answered with a server error (worth retrying)."""


class RegistryAuthError(PushError):
    """The registry refused the credentials (never retried: the same credentials fail again)."""

    retryable = False


class TagConflictError(PushError):
    """The tag already exists in the registry with another digest."""

    exit_code = 3
    retryable = False


# ---- deploying ---------------------------------------------------------------------------------------


class DeployError(KwrecError):
    """A deploy or rollback did not make the release live; the previous release keeps serving."""

    retryable = True


class DeployInProgressError(DeployError):
    """Another deploy holds the target's lease, or won the race for the target's alias record."""

    exit_code = 3


class VerificationError(DeployError):
    """The API answers, but not as the release promises (wrong version, golden queries, latency)."""

    retryable = False


class TargetError(DeployError):
    """The target itself (engine, proxy, ECS) refused or failed an operation."""


#: Errors of one customer's own logs or config: that customer fails (and keeps its live model) while the
#: others go on. Anything else (a store that cannot be written, a corrupt artifact, a crash) fails the step.
CUSTOMER_INPUT_ERRORS: tuple[type[KwrecError], ...] = (DataError, ConfigError, InvalidIdentifierError)

#: Every error class, for documentation and for the test that keeps the table above honest.
ALL_ERRORS: tuple[type[KwrecError], ...] = (
    KwrecError,
    InvalidIdentifierError,
    ConfigError,
    DataError,
    RuleError,
    ArtifactError,
    ReleaseNotFoundError,
    UnknownCustomerError,
    StoreError,
    StoreNotFound,
    RunInProgressError,
    ChainStepError,
    EngineError,
    BuildError,
    WheelError,
    PushError,
    RegistryUnavailableError,
    RegistryAuthError,
    TagConflictError,
    DeployError,
    DeployInProgressError,
    VerificationError,
    TargetError,
)
