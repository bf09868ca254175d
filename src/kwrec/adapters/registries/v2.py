"""Docker Registry HTTP API v2 adapter (httpx): login check, manifest digest of a tag, manifest deletion.

Loopback registries are spoken to over plain HTTP (the engine treats 127.0.0.0/8 as insecure too);
any other host over HTTPS. Basic auth works for Distribution's htpasswd and for ECR alike.
"""

from __future__ import annotations

import httpx

from kwrec.adapters.registries import RegistryCredentials
from kwrec.errors import PushError, RegistryAuthError, RegistryUnavailableError

# Without this Accept header the registry answers a schema-1 manifest whose digest differs from the push's.
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
_ACCEPT = ", ".join(
    [
        MANIFEST_V2,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def base_url(server: str) -> str:
    host = server.rsplit(":", 1)[0] if server.count(":") == 1 else server
    loopback = host == "localhost" or host.startswith("127.") or host == "[::1]"
    return f"{'http' if loopback else 'https'}://{server}"


class RegistryClient:
    def __init__(self, creds: RegistryCredentials, timeout: float = 30.0) -> None:
        self.creds = creds
        auth = httpx.BasicAuth(creds.username, creds.password) if creds.username and creds.password else None
        self._http = httpx.Client(base_url=base_url(creds.server), auth=auth, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _get(self, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryUnavailableError(
                f"registry {self.creds.server} does not answer: {type(exc).__name__}: {exc}",
                hint="check that the registry runs and the url (KWREC_IMAGE__REGISTRY__URL) is right",
            ) from None
        if response.status_code in (401, 403):
            raise RegistryAuthError(
                f"registry {self.creds.server} refused {self.creds.describe()} (HTTP {response.status_code})",
                hint="check the registry user and KWREC_IMAGE__REGISTRY__PASSWORD",
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise RegistryUnavailableError(
                f"registry {self.creds.server} answered HTTP {response.status_code}"
            )
        return response

    def check_login(self) -> None:
        """``GET /v2/``: 200 means the registry speaks v2 and accepts these credentials."""
        response = self._get("GET", "/v2/")
        if response.status_code != 200:
            raise PushError(
                f"{self.creds.server} is not a Docker Registry v2 (GET /v2/: HTTP {response.status_code})"
            )

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """The digest the registry serves for ``repository:tag``, or None when the tag does not exist."""
        response = self._get("HEAD", f"/v2/{repository}/manifests/{tag}", headers={"Accept": _ACCEPT})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PushError(
                f"registry {self.creds.server}: HEAD manifest {repository}:{tag} "
                f"answered HTTP {response.status_code}"
            )
        digest: str | None = response.headers.get("Docker-Content-Digest")
        if not digest:
            raise PushError(
                f"registry {self.creds.server} sent no Docker-Content-Digest for {repository}:{tag}"
            )
        return digest

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """``DELETE`` a manifest (and so every tag on it): True when deleted, False when already gone."""
        response = self._get("DELETE", f"/v2/{repository}/manifests/{digest}")
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 202):
            raise PushError(
                f"registry {self.creds.server}: DELETE {repository}@{digest} "
                f"answered HTTP {response.status_code}",
                hint="the registry needs storage.delete.enabled: true",
            )
        return True
