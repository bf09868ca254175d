"""The build context, assembled in memory from an explicit file list (never a tar of a working tree).

Every tar entry has a fixed owner, mode and mtime, so the same content gives the same layer: the
engine's cache hits, and an unchanged customer model becomes a layer the registry already has.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kwrec.adapters.image.dockerfile import STORE_DIR, DockerfileSpec, render
from kwrec.adapters.image.wheels import WheelSet
from kwrec.core.manifest import Manifest
from kwrec.core.models.customer_model import verify_artifact
from kwrec.core.rules_store import CURRENT_KEY
from kwrec.core.shards import layer_groups
from kwrec.core.store import MARKER_NAME, ArtifactStore, DirManifest
from kwrec.core.store_layout import manifest_key
from kwrec.errors import ArtifactError
from kwrec.settings.release import MAX_MODEL_LAYERS

_MTIME = 315532800  # 1980-01-01: constant, so identical content gives identical layers


@dataclass
class BuildContext:
    data: bytes  # the uncompressed tar
    dockerfile: str
    manifest_bytes: bytes  # the release manifest exactly as copied into the image
    files: list[str] = field(default_factory=list)
    model_bytes: dict[str, int] = field(default_factory=dict)  # customer -> bytes of its model files
    model_dirs: list[str] = field(default_factory=list)  # one image layer each

    @property
    def manifest_digest(self) -> str:
        return _digest(self.manifest_bytes)


class TarWriter:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        # Closed in close(); the writer lives across many add calls.
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.names: list[str] = []
        self._dirs: set[str] = set()

    def _info(self, name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, _MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def _parents(self, name: str) -> None:
        # Explicit directory entries, so directories the engine creates get our fixed mtime too.
        for parent in reversed(PurePosixPath(name).parents):
            p = str(parent)
            if p != "." and p not in self._dirs:
                self._dirs.add(p)
                self.tar.addfile(self._info(p, tarfile.DIRTYPE, 0o755))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._parents(name)
        self.tar.addfile(self._info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        self.names.append(name)

    def add_file(self, name: str, path: Path) -> int:
        self._parents(name)
        size = path.stat().st_size
        with path.open("rb") as fh:
            self.tar.addfile(self._info(name, tarfile.REGTYPE, 0o644, size), fh)
        self.names.append(name)
        return size

    def close(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


#: The image label that names the manifest an image was built from (``image_manifest_digest``).
MANIFEST_DIGEST_LABEL = "kwrec.release.manifest-digest"
#: The image label naming the shard of the release an image serves.
SHARD_LABEL = "kwrec.release.shard"
#: The image label of releases whose API can also listen on a unix socket (``KWREC_SERVE__UDS``): the
#: docker target then switches by renaming a socket link, with no proxy reload.
UDS_LABEL = "kwrec.serve.unix-socket"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest_digest(manifest: Manifest) -> str:
    """What an image built from this release carries in its ``MANIFEST_DIGEST_LABEL``."""
    return _digest(image_manifest_bytes(manifest))


def image_manifest_bytes(manifest: Manifest) -> bytes:
    """The manifest as shipped: what the release is, without where it was built, pushed or deployed.

    Dropping those fields keeps the bytes (and the model-layer cache and the digest label) the same
    when the same release is built again after its first push was recorded.
    """
    return manifest.model_copy(update={"image": None, "deployments": []}).to_bytes()


def _artifact_files(local: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(local):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                path = Path(dirpath, name)
                yield path.relative_to(local).as_posix(), path


def assemble(
    store: ArtifactStore,
    manifest: Manifest,
    wheels: WheelSet,
    base_image: str,
    cache_dir: Path,
    user_id: int = 10001,
    layers: int = MAX_MODEL_LAYERS,
    rules_snapshot: bytes | None = None,
) -> BuildContext:
    """The tar of Dockerfile, wheels and the models of ``manifest`` (one shard's view), as a local store.

    Each customer is a layer of its own while they fit in ``layers``; past that, stable groups
    (:func:`kwrec.core.shards.layer_groups`), so the image stays within overlay2's depth.
    """
    tar = TarWriter()
    manifest_bytes = image_manifest_bytes(manifest)
    model_dirs: list[str] = []
    model_bytes: dict[str, int] = {}
    for group in layer_groups(sorted(manifest.customers), layers):
        ctx_dir = f"models/{group[0]}" if len(group) == 1 else f"models/group-{group[0]}"
        for customer in group:
            model_bytes[customer] = _add_artifact(tar, store, manifest, customer, ctx_dir, cache_dir)
        model_dirs.append(ctx_dir)
    tar.add_bytes(f"release{STORE_DIR}/{manifest_key(manifest.version)}", manifest_bytes)
    if rules_snapshot is not None:
        # The live rules as they were at build time: what a replica applies when it starts while the
        # rules store cannot be read (it reports that it does, in /metrics).
        tar.add_bytes(f"release{STORE_DIR}/{CURRENT_KEY}", rules_snapshot)
    for path in wheels.dep_files():
        tar.add_file(f"deps/{path.name}", path)
    tar.add_file(f"kwrec/{wheels.kwrec_wheel.name}", wheels.kwrec_wheel)
    spec = DockerfileSpec(
        base_image=base_image,
        version=manifest.version,
        kwrec_wheel=wheels.kwrec_wheel.name,
        model_dirs=tuple(model_dirs),
        release_dir="release",
        user_id=user_id,
    )
    dockerfile = render(spec)
    tar.add_bytes("Dockerfile", dockerfile.encode())
    return BuildContext(
        data=tar.close(),
        dockerfile=dockerfile,
        manifest_bytes=manifest_bytes,
        files=tar.names,
        model_bytes=model_bytes,
        model_dirs=model_dirs,
    )


def _add_artifact(
    tar: TarWriter, store: ArtifactStore, manifest: Manifest, customer: str, ctx_dir: str, cache_dir: Path
) -> int:
    """Put one customer's verified artifact under ``ctx_dir``; its bytes."""
    entry = manifest.customers[customer]
    local = store.fetch_dir(entry.artifact_key, cache_dir)
    try:
        verify_artifact(local, entry.artifact)  # never ship a file that differs from what was trained
    except ArtifactError as exc:
        raise ArtifactError(
            f"release {manifest.version}: the artifact of {customer} is corrupt: {exc.message}",
            hint="train a new release (`kwrec run` or `kwrec train`): the corrupt artifact is then "
            "moved aside and trained again from the logs",
        ) from None
    root = f"{ctx_dir}{STORE_DIR}/{entry.artifact_key}"
    sizes: dict[str, int] = {}
    for rel, path in _artifact_files(local):
        sizes[rel] = tar.add_file(f"{root}/{rel}", path)
    # The in-image LocalStore wants a completion marker; a deterministic id keeps the layer stable.
    upload_id = hashlib.sha256(entry.artifact_key.encode()).hexdigest()[:32]
    tar.add_bytes(f"{root}/{MARKER_NAME}", DirManifest(upload_id, sizes).to_bytes())
    return sum(sizes.values())
