"""Deleting a gc'd release's image from the registry it was pushed to (v2 API ``DELETE`` by digest).

This belongs in :mod:`kwrec.registries.v2` (one adapter per registry); it lives here until the
registry adapter has a ``delete_manifest`` method.
"""

from __future__ import annotations

from typing import Any

from kwrec.image.errors import PushError
from kwrec.registries.v2 import RegistryClient
from kwrec.settings import Settings


class _DeletingClient(RegistryClient):
    def delete_manifest(self, repository: str, digest: str) -> bool:
        """True when deleted, False when the registry no longer has it."""
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


def delete_pushed_image(settings: Settings, push: dict[str, Any]) -> bool:
    """Delete the manifest (and so every tag) of one recorded push."""
    from kwrec.publish import credentials_source

    img = settings.image
    reference = str(push.get("reference") or "")
    registry = str(push.get("registry") or "")
    if "@" not in reference or not registry:
        return False
    repo_path, digest = reference.split("@", 1)
    repository = repo_path.removeprefix(registry + "/")
    creds = credentials_source(img)()
    if creds.server != registry:
        # Credentials for another registry would be refused (or worse, sent to the wrong host).
        from kwrec.registries import RegistryCredentials

        creds = RegistryCredentials(server=registry)
    reg = _DeletingClient(creds, img.registry.timeout_seconds)
    try:
        return reg.delete_manifest(repository, digest)
    finally:
        reg.close()
