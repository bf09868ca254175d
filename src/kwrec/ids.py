"""Validation of identifiers that come from outside: customer ids, release versions, timestamps.

Every one of them ends up in a path, an object key, an image tag or a URL, so they are checked
against a strict pattern before anything else touches them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kwrec.errors import InvalidIdentifierError

CUSTOMER_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
TIMESTAMP_RE = re.compile(r"^\d{10}$")
VERSION_RE = re.compile(r"^(?P<name>[a-z][a-z0-9]{0,15})_(?P<ts>\d{10})$")


def validate_customer(customer: str) -> str:
    if not isinstance(customer, str) or not CUSTOMER_RE.fullmatch(customer):
        raise InvalidIdentifierError(
            f"invalid customer id {customer!r}",
            hint="use 1-63 lowercase letters, digits, '_' or '-', starting with a letter or digit",
        )
    return customer


def validate_model_name(name: str) -> str:
    if not MODEL_NAME_RE.fullmatch(name):
        raise InvalidIdentifierError(
            f"invalid model name {name!r}",
            hint="use 1-16 lowercase letters or digits, starting with a letter",
        )
    return name


def validate_timestamp(ts: str) -> str:
    """A release timestamp ``YYMMDDHHMM`` (UTC) that is a real date and time."""
    if not TIMESTAMP_RE.fullmatch(ts):
        raise InvalidIdentifierError(f"invalid timestamp {ts!r}", hint="use YYMMDDHHMM, e.g. 2611271500")
    try:
        datetime.strptime(ts, "%y%m%d%H%M")
    except ValueError:
        raise InvalidIdentifierError(
            f"invalid timestamp {ts!r}: not a real date and time", hint="use YYMMDDHHMM, e.g. 2611271500"
        ) from None
    return ts


def validate_version(version: str) -> str:
    m = VERSION_RE.fullmatch(version) if isinstance(version, str) else None
    if m is None:
        raise InvalidIdentifierError(
            f"invalid release version {version!r}", hint="use <model_name>_<YYMMDDHHMM>, e.g. gs_2611271500"
        )
    validate_timestamp(m.group("ts"))
    return version


def make_version(model_name: str, timestamp: str) -> str:
    return f"{validate_model_name(model_name)}_{validate_timestamp(timestamp)}"


def version_timestamp(version: str) -> str:
    return validate_version(version).rsplit("_", 1)[1]


def timestamp_now() -> str:
    return datetime.now(UTC).strftime("%y%m%d%H%M")
