"""One release chain at a time per store: a lock record changed only through ``compare_and_swap``.

The record names its owner (host:pid, or an Airflow run id) and an expiry, so a second run fails with
a message saying who runs and since when, and a run whose process died is taken over once its lock
expired. The same owner may take its own lock again (an Airflow task retried within one DAG run).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kwrec.core.manifest import now_iso
from kwrec.core.store import ArtifactStore, update_record
from kwrec.core.store_layout import RUN_LOCK
from kwrec.errors import RunInProgressError

LOCK_KEY = RUN_LOCK


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _describe(record: dict[str, Any]) -> str:
    until = datetime.fromtimestamp(float(record.get("expires", 0)), UTC).replace(microsecond=0).isoformat()
    return (
        f"{record.get('owner')} runs {record.get('version')} since {record.get('acquired')} "
        f"(lock until {until})"
    )


@dataclass
class RunLock:
    store: ArtifactStore
    owner: str
    version: str
    seconds: float
    raw: bytes = b""

    def _record(self) -> bytes:
        return json.dumps(
            {
                "state": "held",
                "id": uuid.uuid4().hex,
                "owner": self.owner,
                "version": self.version,
                "acquired": now_iso(),
                "expires": time.time() + self.seconds,
            },
            sort_keys=True,
        ).encode()

    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`RunInProgressError` naming the run that holds it."""
        new = self._record()

        def take(current: bytes | None) -> bytes:
            held = _held(current)
            if held is not None and held.get("owner") != self.owner and _alive(held):
                raise RunInProgressError(
                    f"another release chain is running on {self.store.url}: {_describe(held)}",
                    hint="wait for it to finish; the lock of a run whose process died expires by itself "
                    f"(or delete {LOCK_KEY} in the store once you are sure nothing runs)",
                )
            return new

        if update_record(self.store, LOCK_KEY, take, attempts=10) is None:
            raise RunInProgressError(f"the release-chain lock on {self.store.url} kept changing; try again")
        self.raw = new
        return self

    def renew(self) -> None:
        """Push the expiry forward (between steps); fails if another run took the lock meanwhile."""
        new = self._record()
        if not self.store.compare_and_swap(LOCK_KEY, self.raw, new):
            current = self.store.read_bytes(LOCK_KEY) if self.store.exists(LOCK_KEY) else None
            held = _held(current)
            who = _describe(held) if held else "nobody"
            raise RunInProgressError(
                f"this run lost the release-chain lock on {self.store.url} (now: {who})",
                hint="a step took longer than KWREC_RUN__LOCK_SECONDS; raise it",
            )
        self.raw = new

    def release(self) -> None:
        """Free the lock if it is still ours (never frees another run's lock)."""
        free = json.dumps({"state": "free", "released": now_iso(), "by": self.owner}, sort_keys=True)
        self.store.compare_and_swap(LOCK_KEY, self.raw, free.encode())


def _alive(record: dict[str, Any]) -> bool:
    return holder_alive(str(record.get("owner", "")), float(record.get("expires", 0)))


def holder_alive(owner: str, expires: float) -> bool:
    """Whether a lock or lease still counts: not expired, and its process exists if it ran on this host.

    ``owner`` is ``host:pid`` (:func:`default_owner`) or anything else (an Airflow run id), for which only
    the expiry can tell. Shared by the run lock and the deploy lease.
    """
    if expires <= time.time():
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine (or an Airflow run id): only the expiry can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False  # the run crashed on this very host: no need to wait for the expiry
    except PermissionError:
        return True
    return True


def _held(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None  # an unreadable lock record protects nothing: it is overwritten
    if not isinstance(record, dict) or record.get("state") != "held":
        return None
    return record


def running_version(store: ArtifactStore) -> str | None:
    """The version a live run-lock holder is releasing, if any (what gc must leave to it)."""
    if not store.exists(LOCK_KEY):
        return None
    held = _held(store.read_bytes(LOCK_KEY))
    return str(held.get("version")) if held is not None and _alive(held) else None


def release_owned(store: ArtifactStore, owner: str) -> bool:
    """Free the lock held by ``owner`` (the Airflow DAG's teardown, which has no RunLock object)."""
    if not store.exists(LOCK_KEY):
        return False
    raw = store.read_bytes(LOCK_KEY)
    held = _held(raw)
    if held is None or held.get("owner") != owner:
        return False
    free = json.dumps({"state": "free", "released": now_iso(), "by": owner}, sort_keys=True)
    return store.compare_and_swap(LOCK_KEY, raw, free.encode())
