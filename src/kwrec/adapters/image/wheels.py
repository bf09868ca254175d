"""Wheels for a hermetic image build: the kwrec wheel and its runtime dependency wheels.

Both are built on the host (where the package index is reachable) and cached under
``var/wheels``; the image installs them with ``pip install --no-index``, so a build needs no network.

- Dependencies are pinned by the committed ``image.lock``: the serving stack only (kwrec's base install,
  no extras), in the versions the test suite runs with (``make`` installs the venv under ``venv.lock``,
  the same pins plus the training and release extras), so an image built from the CLI, from an Airflow
  worker whose own venv differs, or on another machine holds the same packages. The wheel cache
  directory is keyed by the lock's hash, so a daily build reuses the same wheel files byte for byte
  and the engine reuses the install layer. ``make image-lock`` rewrites the lock from the venv.
- The kwrec wheel is built from a copy of the sources (nothing written into the checkout) with a
  fixed ``SOURCE_DATE_EPOCH``, keyed by the hash of the sources, so unchanged code gives an
  identical wheel and an identical layer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import kwrec
from kwrec.errors import WheelError

log = logging.getLogger(__name__)

LOCK_NAME = "requirements.lock"
COMMITTED_LOCK = "image.lock"
_SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can hold
_PROJECT_FILES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in")


@dataclass(frozen=True)
class WheelSet:
    kwrec_wheel: Path
    deps_dir: Path  # dependency wheels plus requirements.lock
    lock: str

    def dep_files(self) -> list[Path]:
        return sorted(p for p in self.deps_dir.iterdir() if p.is_file() and not p.name.startswith("."))


def project_dir(explicit: Path | None = None) -> Path:
    """The kwrec source tree: the given one, or the checkout this package is imported from."""
    candidates = [explicit] if explicit else [Path(kwrec.__file__).resolve().parents[2]]
    for root in candidates:
        pyproject = root / "pyproject.toml"
        if pyproject.is_file() and re.search(r'(?m)^name\s*=\s*"kwrec"', pyproject.read_text()):
            return root
    raise WheelError(
        f"no kwrec source tree at {candidates[0]}",
        hint="run from a kwrec checkout (pip install -e .) or set KWREC_IMAGE__PROJECT_DIR",
    )


def runtime_lock(dist_name: str = "kwrec", extras: tuple[str, ...] = ()) -> str:
    """``name==version`` of every runtime dependency (transitively), as installed here; sorted.

    Without ``extras`` this is the serving stack (kwrec's base install: what the release image holds);
    ``extras=("all",)`` adds training and releasing (what the test venv is pinned to).
    """
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    pins: dict[str, str] = {}
    todo = [(dist_name, extras)]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise WheelError(
                f"dependency {name} is not installed here, so its version cannot be pinned",
                hint="pip install -e . in the environment that builds the image",
            ) from None
        for raw in dist.requires or []:
            req = Requirement(raw)
            # A marker naming an extra belongs to that extra: taken only when the extra is wanted.
            if req.marker is not None and not any(
                req.marker.evaluate({**env, "extra": extra}) for extra in (*wanted, "")
            ):
                continue
            key = canonicalize_name(req.name)
            if key == canonicalize_name(dist_name):  # kwrec[all] -> kwrec[train,release]: follow the extras
                todo.append((dist_name, tuple(req.extras)))
                continue
            if key not in pins:
                pins[key] = metadata.version(req.name) if _installed(req.name) else ""
                todo.append((req.name, tuple(req.extras)))
    missing = sorted(k for k, v in pins.items() if not v)
    if missing:
        raise WheelError(f"runtime dependencies not installed here: {', '.join(missing)}")
    return "".join(f"{name}=={pins[name]}\n" for name in sorted(pins))


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _run_pip(args: list[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    env = {**os.environ, "SOURCE_DATE_EPOCH": _SOURCE_DATE_EPOCH, "PIP_NO_INPUT": "1"}
    # Argument list, no shell; pip's own index settings (pip.conf, PIP_*) apply as for any install.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise WheelError(f"{what} failed (pip exit {proc.returncode}):\n{tail}")


SUMS_NAME = ".sha256sums"  # a dot name: never copied into the build context


def _write_sums(directory: Path) -> None:
    sums = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()
    }
    (directory / SUMS_NAME).write_text(json.dumps(sums, indent=1, sort_keys=True))


def _cache_intact(directory: Path) -> bool:
    """Whether a cached wheel directory still holds exactly the files it was made with, byte for byte.

    A damaged or truncated wheel (a full disk, a killed copy, bit rot) would otherwise break every later
    build; a directory that fails is removed and made again.
    """
    try:
        sums = json.loads((directory / SUMS_NAME).read_text())
        present = {p.name for p in directory.iterdir() if p.is_file() and p.name != SUMS_NAME}
        intact = set(sums) == present and all(
            hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest
            for name, digest in sums.items()
        )
    except (OSError, ValueError, AttributeError):
        intact = False
    if not intact:
        log.warning("wheel cache %s is damaged or unverified: building it again", directory)
        shutil.rmtree(directory, ignore_errors=True)
    return intact


def dependency_wheels(cache_root: Path, lock: str) -> Path:
    """The directory of wheels for ``lock`` (downloaded or built once, then reused while intact)."""
    target = cache_root / "deps" / _digest(lock.encode())
    if target.is_dir() and _cache_intact(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".deps-", dir=target.parent))
    try:
        (tmp / "in.txt").write_text(lock)
        args = ["wheel", "--no-deps", "--wheel-dir", str(tmp / "w"), "-r", str(tmp / "in.txt")]
        _run_pip(args, "collecting the dependency wheels")
        wheels = tmp / "w"
        (wheels / LOCK_NAME).write_text(lock)
        _write_sums(wheels)
        # Written last and renamed: a crash mid-download never leaves a half-filled cache entry.
        if not target.exists():
            os.replace(wheels, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _source_files(root: Path) -> list[Path]:
    files = [root / name for name in _PROJECT_FILES if (root / name).is_file()]
    for path in sorted((root / "src" / "kwrec").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo", ".so"):
            files.append(path)
    return files


def kwrec_wheel(cache_root: Path, root: Path) -> Path:
    """The kwrec wheel for the current sources (built once per source hash)."""
    files = _source_files(root)
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    target = cache_root / "kwrec" / h.hexdigest()[:16]
    found = sorted(target.glob("kwrec-*.whl")) if target.is_dir() and _cache_intact(target) else []
    if found:
        return found[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".kwrec-", dir=target.parent))
    try:
        src = tmp / "src-tree"
        for path in files:
            dest = src / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        _run_pip(["wheel", "--no-deps", "--wheel-dir", str(tmp / "w"), str(src)], "building the kwrec wheel")
        if not any((tmp / "w").glob("kwrec-*.whl")):
            raise WheelError("pip wheel finished without producing a kwrec wheel")
        _write_sums(tmp / "w")
        if not target.exists():
            os.replace(tmp / "w", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(target.glob("kwrec-*.whl"))[0]


def image_lock(root: Path) -> str:
    """The committed pins of the image's runtime dependencies (else the ones installed here)."""
    committed = root / COMMITTED_LOCK
    return committed.read_text() if committed.is_file() else runtime_lock()


def collect_wheels(cache_root: Path, source: Path | None = None) -> WheelSet:
    root = project_dir(source)
    lock = image_lock(root)
    return WheelSet(
        kwrec_wheel=kwrec_wheel(cache_root, root),
        deps_dir=dependency_wheels(cache_root, lock),
        lock=lock,
    )


if __name__ == "__main__":  # `make image-lock`: the pins of the dependencies installed here
    # no argument: the serving stack (image.lock); `all`: everything the chain needs (venv.lock)
    print(runtime_lock(extras=tuple(sys.argv[1:])), end="")
