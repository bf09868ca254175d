"""AWS ECR adapter: registry credentials from ``GetAuthorizationToken`` (boto3).

The token is base64 of ``AWS:<password>`` and expires (12 h on AWS): it is cached only until shortly
before ``expiresAt`` and fetched again after that, so a long-lived worker never pushes with a dead token.
"""

from __future__ import annotations

import base64
import binascii
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.exceptions

from kwrec.adapters.registries import RegistryCredentials
from kwrec.errors import RegistryAuthError, RegistryUnavailableError

REFRESH_MARGIN = timedelta(minutes=15)


def decode_token(token: str) -> tuple[str, str]:
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep, user, password = "", "", ""
    if not sep or not user or not password:
        raise RegistryAuthError("ECR returned an authorization token that is not base64 of user:password")
    return user, password


class EcrLogin:
    def __init__(
        self,
        region: str,
        registry_id: str | None = None,
        endpoint_url: str | None = None,
        server: str | None = None,
    ) -> None:
        self.region = region
        self.registry_id = registry_id
        self.endpoint_url = endpoint_url
        self.server = server  # overrides the token's proxy endpoint (a mirror, or a test registry)
        self._cached: tuple[RegistryCredentials, datetime] | None = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        return boto3.client("ecr", region_name=self.region, endpoint_url=self.endpoint_url)

    def credentials(self, now: datetime | None = None) -> RegistryCredentials:
        now = now or datetime.now(UTC)
        with self._lock:
            if self._cached is not None and now < self._cached[1] - REFRESH_MARGIN:
                return self._cached[0]
            creds, expires = self._fetch()
            self._cached = (creds, expires)
            return creds

    def _fetch(self) -> tuple[RegistryCredentials, datetime]:
        where = f"ECR in {self.region}" + (f" (registry {self.registry_id})" if self.registry_id else "")
        kwargs: dict[str, Any] = {"registryIds": [self.registry_id]} if self.registry_id else {}
        try:
            data = self._client().get_authorization_token(**kwargs)["authorizationData"][0]
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise RegistryAuthError(f"{where}: GetAuthorizationToken refused ({code})") from None
        except botocore.exceptions.NoCredentialsError:
            raise RegistryAuthError(
                f"{where}: no AWS credentials for GetAuthorizationToken",
                hint="configure AWS credentials (environment, profile or instance role)",
            ) from None
        except (botocore.exceptions.BotoCoreError, KeyError, IndexError) as exc:
            raise RegistryUnavailableError(
                f"{where}: GetAuthorizationToken failed: {type(exc).__name__}"
            ) from None
        user, password = decode_token(str(data["authorizationToken"]))
        server = self.server or str(data["proxyEndpoint"]).removeprefix("https://").removeprefix("http://")
        expires = data.get("expiresAt")
        if not isinstance(expires, datetime):
            expires = datetime.now(UTC)  # unknown expiry: use once, fetch again next time
        elif expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return RegistryCredentials(server=server.rstrip("/"), username=user, password=password), expires
