"""Build and push the container image of a release: the pipeline steps the CLI and the DAG call.

Both record what they did in the release manifest (``Manifest.image``) only after they succeeded;
a failure leaves the manifest as it was.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from kwrec import __version__
from kwrec.adapters import engine
from kwrec.adapters.image.context import MANIFEST_DIGEST_LABEL, SHARD_LABEL, UDS_LABEL, assemble
from kwrec.adapters.image.wheels import collect_wheels, project_dir
from kwrec.adapters.registries import RegistryCredentials, credentials_source
from kwrec.adapters.registries.v2 import RegistryClient
from kwrec.core.manifest import (
    ImageRecord,
    Manifest,
    PushRecord,
    latest_version,
    now_iso,
    read_manifest,
    release_shards,
    shard_view,
    update_manifest,
)
from kwrec.core.rules_store import read_rules
from kwrec.core.store import ArtifactStore
from kwrec.errors import ConfigError, KwrecError, PushError, TagConflictError
from kwrec.ids import validate_version
from kwrec.reporting import Report
from kwrec.settings import Settings
from kwrec.settings.image import ImageSettings

T = TypeVar("T")


def rules_snapshot(settings: Settings, store: ArtifactStore) -> bytes | None:
    """The live rules to bake into an image (None when there are none or rules are off)."""
    if not settings.rules.enabled:
        return None
    rules, raw = read_rules(store)
    return raw if rules.version else None


def _resolve(store: ArtifactStore, version: str | None) -> Manifest:
    return read_manifest(store, validate_version(version) if version else latest_version(store))


def image_tag(version: str) -> str:
    return version.rsplit("_", 1)[1]  # YYMMDDHHMM, as in the original keyword-dev:<TIMESTAMP>


def git_revision(root: Path) -> str:
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argument list
            ["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    rev = proc.stdout.strip()
    return rev if proc.returncode == 0 and len(rev) == 40 else "unknown"


@dataclass(frozen=True)
class BuiltImage:
    """What ``build_release_image`` made: the image record stored in the manifest, and its build steps."""

    record: ImageRecord
    steps: list[tuple[str, bool]]  # (Dockerfile step, came from the cache)
    uncached_steps: list[str]

    @property
    def id(self) -> str:
        return str(self.record.id)

    def to_dict(self) -> dict[str, Any]:
        """What ``kwrec build --json`` prints."""
        return {**self.record.dump(), "uncached_steps": self.uncached_steps}


def _record(store: ArtifactStore, version: str, shard: str, update: dict[str, Any]) -> Manifest:
    """Merge ``update`` into the image record of ``shard`` (keys not named stay as they were).

    A release written before shards gets its one shard recorded here.
    """

    def change(manifest: Manifest) -> None:
        shards = release_shards(manifest)
        rec = shards[shard]
        current = rec.image.dump() if rec.image is not None else {}
        shards[shard] = rec.model_copy(update={"image": ImageRecord.model_validate({**current, **update})})
        manifest.shards = shards
        manifest.image = None

    return update_manifest(store, version, change)


def shard_tag(version: str, shard: str) -> str:
    """``YYMMDDHHMM-sNNN``: one tag per shard image of a release."""
    return f"{image_tag(version)}-{shard}"


def own_shards(store: ArtifactStore, version: str | None) -> list[str]:
    """The shards whose image this release builds itself (the others keep an earlier release's)."""
    manifest = _resolve(store, version)
    return [s for s, rec in release_shards(manifest).items() if rec.built_in == manifest.version]


def _shard(manifest: Manifest, shard: str | None) -> str:
    shards = release_shards(manifest)
    if shard is None:
        if len(shards) == 1:
            return next(iter(shards))
        raise ConfigError(
            f"release {manifest.version} has {len(shards)} shards: name one",
            hint=f"pass --shard, one of {', '.join(shards)}",
        )
    if shard not in shards:
        raise ConfigError(
            f"release {manifest.version} has no shard {shard!r}", hint=f"shards: {', '.join(shards)}"
        )
    return shard


def build_release_image(
    settings: Settings,
    store: ArtifactStore,
    version: str | None,
    report: Report,
    *,
    shard: str | None = None,
    nocache: bool = False,
) -> BuiltImage:
    """Build ``REPOSITORY:YYMMDDHHMM-sNNN``, the image of one shard, and record it in the manifest."""
    img = settings.image
    release = _resolve(store, version)
    shard = _shard(release, shard)
    manifest = shard_view(release, shard)
    tag = shard_tag(release.version, shard)
    client = engine.connect(img.engine_timeout_seconds)
    if engine.inspect_image(client, img.base_image) is None:
        raise ConfigError(
            f"base image {img.base_image} is not in the Docker Engine (kwrec never pulls)",
            hint="run bash scripts/ensure-base-image.sh, or set KWREC_IMAGE__BASE_IMAGE to an image it has",
        )
    report(f"collecting wheels (cache {img.wheel_cache})")
    wheels = collect_wheels(img.wheel_cache, img.project_dir)
    ctx = assemble(
        store,
        manifest,
        wheels,
        img.base_image,
        Path(settings.cache_dir),
        img.user_id,
        layers=settings.release.model_layers,
        rules_snapshot=rules_snapshot(settings, store),
    )
    labels = {
        "org.opencontainers.image.title": "kwrec",
        "org.opencontainers.image.version": manifest.version,
        SHARD_LABEL: shard,
        "org.opencontainers.image.created": now_iso(),
        "org.opencontainers.image.revision": _revision(img),
        MANIFEST_DIGEST_LABEL: ctx.manifest_digest,
        UDS_LABEL: "1",
        "kwrec.code-version": __version__,
    }
    ref = f"{img.repository}:{tag}"
    report(
        f"building {ref} from {img.base_image} ({len(ctx.data) / 1e6:.1f} MB context, {len(ctx.files)} files)"
    )
    started = time.monotonic()
    result = engine.build(client, ctx.data, ref, labels, report)
    seconds = time.monotonic() - started
    tags = [ref]
    if img.moving_tag:
        engine.tag(client, result.image_id, img.repository, f"{img.moving_tag}-{shard}")
        tags.append(f"{img.repository}:{img.moving_tag}-{shard}")
    cached = sum(1 for _, hit in result.steps if hit)
    report(f"built {result.image_id[:19]} as {', '.join(tags)} in {seconds:.1f}s")
    report(f"{cached} of {len(result.steps)} build steps came from the cache")
    record = {
        "repository": img.repository,
        "tag": tag,
        "tags": tags,
        "id": result.image_id,
        "built": labels["org.opencontainers.image.created"],
        "base_image": img.base_image,
        "labels": labels,
        "build_seconds": round(seconds, 2),
        "model_layers": len(ctx.model_dirs),
        "model_bytes": sum(ctx.model_bytes.values()),
    }
    _record(store, release.version, shard, {**record, "pushes": []})
    return BuiltImage(ImageRecord.model_validate(record), result.steps, result.uncached_steps)


def _revision(img: ImageSettings) -> str:
    try:
        return git_revision(project_dir(img.project_dir))
    except KwrecError:
        return "unknown"


def _with_retries(what: str, fn: Callable[[], T], img: ImageSettings, report: Report) -> T:
    """Call ``fn``; retry what the error itself calls retryable, with a doubling delay."""
    delay = img.registry.backoff_seconds
    attempts = img.registry.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except KwrecError as exc:
            if not exc.retryable:
                raise
            if attempt == attempts:
                raise type(exc)(f"{exc.message} (gave up after {attempts} attempts)", hint=exc.hint) from None
            report(f"{what}: {exc.message}; retrying in {delay:.1f}s ({attempt}/{attempts - 1})")
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _served_digest(get_creds: Callable[[], RegistryCredentials], img: ImageSettings, tag: str) -> str | None:
    with RegistryClient(get_creds(), img.registry.timeout_seconds) as reg:
        return reg.manifest_digest(img.repository, tag)


def push_release_image(
    settings: Settings,
    store: ArtifactStore,
    version: str | None,
    report: Report,
    *,
    shard: str | None = None,
    force: bool = False,
) -> PushRecord:
    """Push one shard's built image and confirm the registry serves the pushed digest for its tag.

    The same tag with the same digest already in the registry counts as success (a retried task);
    the same tag with another digest is refused unless ``force``.
    """
    img = settings.image
    manifest = _resolve(store, version)
    shard = _shard(manifest, shard)
    built = release_shards(manifest)[shard].image
    if built is None or not built.id:
        raise KwrecError(
            f"release {manifest.version} has no built image for shard {shard}",
            hint=f"run `kwrec build --version {manifest.version}` first",
        )
    client = engine.connect(img.engine_timeout_seconds)
    local = f"{built.repository}:{built.tag}"
    attrs = engine.inspect_image(client, built.id)
    if attrs is None:
        raise KwrecError(
            f"image {local} ({built.id[:19]}) of release {manifest.version} is not in the engine",
            hint=f"build it again: kwrec build --version {manifest.version}",
        )
    get_creds = credentials_source(img)
    creds = _with_retries("registry login", get_creds, img, report)
    remote = f"{creds.server}/{img.repository}"
    tags = [str(built.tag)] + ([f"{img.moving_tag}-{shard}"] if img.moving_tag else [])

    def login() -> RegistryCredentials:
        fresh = get_creds()  # ECR: a new token once the old one nears expiry
        with RegistryClient(fresh, img.registry.timeout_seconds) as reg:
            reg.check_login()
        return fresh

    creds = _with_retries(f"registry {creds.server}", login, img, report)
    with RegistryClient(creds, img.registry.timeout_seconds) as reg:
        existing = _with_retries(
            "manifest look-up", lambda: reg.manifest_digest(img.repository, tags[0]), img, report
        )
    known = {d.split("@", 1)[1] for d in attrs.get("RepoDigests") or [] if d.startswith(remote + "@")}
    if existing is not None and existing not in known and not force:
        raise TagConflictError(
            f"{remote}:{tags[0]} already exists with digest {existing}, which is not image {built.id[:19]}",
            hint="tags are not overwritten; pass --force to replace it",
        )
    digest = ""
    for tag_name in tags:
        engine.tag(client, built.id, remote, tag_name)

        def attempt(tag_name: str = tag_name) -> str:
            fresh = get_creds()
            return engine.push(client, remote, tag_name, fresh.auth_config(), fresh.describe(), report)

        started = time.monotonic()
        pushed = _with_retries(f"push {remote}:{tag_name}", attempt, img, report)
        served = _with_retries(
            "manifest check", partial(_served_digest, get_creds, img, tag_name), img, report
        )
        if served != pushed:
            raise PushError(
                f"registry {creds.server} serves {served or 'nothing'} for {img.repository}:{tag_name}, "
                f"but the push reported {pushed}"
            )
        report(
            f"pushed {remote}:{tag_name} {pushed} in {time.monotonic() - started:.1f}s (registry confirms)"
        )
        digest = digest or pushed
    push_record = PushRecord(
        registry=creds.server,
        kind=img.registry.kind,
        reference=f"{remote}@{digest}",
        tags=[f"{remote}:{t}" for t in tags],
        digest=digest,
        pushed=now_iso(),
    )
    previous = [p.dump() for p in built.pushes if p.registry != creds.server]
    _record(
        store,
        manifest.version,
        shard,
        {"digest": digest, "reference": push_record.reference, "pushes": [*previous, push_record.dump()]},
    )
    return push_record
