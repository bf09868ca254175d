"""Daily rebuild benchmark: kwrec's layered image vs the original "COPY . then pip install" image.

Day 1 and day 2 releases differ only in one customer's model. For each approach (same engine, same base
image, same wheels, same run): build and push day 1 untimed (the registry and the build cache are warm,
as on any normal day), then time the day-2 build and push, and measure the bytes the registry stored
for day 2 (growth of its blob storage: exactly what was uploaded and kept).

    .venv/bin/python -m benchmarks.bench_image [--rows 300000] [--out docs/benchmarks_image.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.synth import write_synthetic_logs
from kwrec.adapters import engine
from kwrec.adapters.image.context import TarWriter
from kwrec.adapters.image.wheels import collect_wheels
from kwrec.adapters.stores import open_store
from kwrec.core.manifest import read_manifest
from kwrec.pipeline.image import build_release_image, push_release_image
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DAY1, DAY2 = "2611270900", "2611280900"
CHANGED = "bigshop"

ORIGINAL_DOCKERFILE = """FROM {base}
COPY . /app
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --no-cache-dir --find-links /app/wheels -r /app/requirements.txt \
 && /opt/venv/bin/pip install --no-index --no-deps --no-cache-dir /app/wheels/{kwrec}
ENV KWREC_STORE=/app/store KWREC_SERVE__HOST=0.0.0.0
ENV MODEL_VERSION={version} KWREC_SERVE__MODEL_VERSION={version}
EXPOSE 8000
CMD ["/opt/venv/bin/python", "-m", "kwrec.cli.serve"]
"""


def blob_sizes(storage: Path) -> dict[str, int]:
    blobs = storage / "docker" / "registry" / "v2" / "blobs"
    return {str(p): p.stat().st_size for p in blobs.rglob("data")} if blobs.is_dir() else {}


def grown(before: dict[str, int], after: dict[str, int]) -> int:
    return sum(size for path, size in after.items() if path not in before)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def original_context(store_root: Path, version: str, base: str, wheels: Any) -> bytes:
    """What the original setup sent: the whole working directory (code, wheels, models) in one COPY."""
    tar = TarWriter()
    for path in wheels.dep_files():
        tar.add_file(f"wheels/{path.name}", path)
    tar.add_bytes("requirements.txt", wheels.lock.encode())
    tar.add_file(f"wheels/{wheels.kwrec_wheel.name}", wheels.kwrec_wheel)
    manifest = read_manifest(open_store(str(store_root)), f"gs_{version}")
    keys = [f"releases/gs_{version}/manifest.json"]
    for entry in manifest.customers.values():
        keys += [
            p.relative_to(store_root).as_posix()
            for p in (store_root / entry.artifact_key).rglob("*")
            if p.is_file()
        ]
    for key in keys:
        tar.add_file(f"store/{key}", store_root / key)
    text = ORIGINAL_DOCKERFILE.format(base=base, kwrec=wheels.kwrec_wheel.name, version=f"gs_{version}")
    tar.add_bytes("Dockerfile", text.encode())
    return tar.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000, help="search events of the changing customer")
    parser.add_argument("--registry", default="127.0.0.1:5000")
    parser.add_argument("--registry-storage", type=Path, default=Path("/var/lib/kwrec-registry/open/storage"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks_image.md")
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="kwrec-bench-image-"))
    log = lambda line: None  # noqa: E731 - the build logs are not the point here
    try:
        data, store_root = work / "data", work / "store"
        shutil.copytree(ROOT / "data" / "sample", data)
        settings = Settings(store=str(store_root))
        store = open_store(str(store_root))
        write_synthetic_logs(data / CHANGED, rows=args.rows, distinct=args.rows // 5, seed=1)
        train_release(settings, store, timestamp=DAY1, data_dir=data, evaluate=False)
        shutil.rmtree(data / CHANGED)
        write_synthetic_logs(data / CHANGED, rows=args.rows, distinct=args.rows // 5, seed=2)
        train_release(settings, store, timestamp=DAY2, data_dir=data, evaluate=False)
        m2 = read_manifest(store, f"gs_{DAY2}")
        changed = [c for c, e in m2.customers.items() if e.trained_in == m2.version]
        changed_bytes = sum(tree_bytes(store_root / m2.customers[c].artifact_key) for c in changed)
        all_bytes = sum(tree_bytes(store_root / e.artifact_key) for e in m2.customers.values())

        os.environ["KWREC_IMAGE__REPOSITORY"] = f"bench/kwrec-{run_id}"
        os.environ["KWREC_IMAGE__REGISTRY__URL"] = args.registry
        img = settings.image
        client = engine.connect()
        results: dict[str, dict[str, float]] = {}

        # kwrec: layered image
        build_release_image(settings, store, f"gs_{DAY1}", log)
        push_release_image(settings, store, f"gs_{DAY1}", log)
        t0 = time.monotonic()
        build_release_image(settings, store, f"gs_{DAY2}", log)
        t1 = time.monotonic()
        before = blob_sizes(args.registry_storage)
        push_release_image(settings, store, f"gs_{DAY2}", log)
        t2 = time.monotonic()
        results["kwrec (layered, models last)"] = {
            "build": t1 - t0,
            "push": t2 - t1,
            "bytes": grown(before, blob_sizes(args.registry_storage)),
        }

        # original: COPY . then pip install -r requirements.txt
        wheels = collect_wheels(img.wheel_cache, img.project_dir)
        remote = f"{args.registry}/bench/original-{run_id}"
        for day in (DAY1, DAY2):
            ctx = original_context(store_root, day, img.base_image, wheels)
            t0 = time.monotonic()
            result = engine.build(client, ctx, f"{remote}:{day}", {}, log)
            t1 = time.monotonic()
            before = blob_sizes(args.registry_storage)
            engine.push(client, remote, day, None, "anonymous", log)
            t2 = time.monotonic()
            if day == DAY2:
                results["original (COPY . + pip install)"] = {
                    "build": t1 - t0,
                    "push": t2 - t1,
                    "bytes": grown(before, blob_sizes(args.registry_storage)),
                }
            assert result.image_id
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ours, orig = results["kwrec (layered, models last)"], results["original (COPY . + pip install)"]
    rows = [
        f"| {name} | {r['build']:.1f} s | {r['push']:.1f} s | {r['bytes'] / 1e6:.2f} MB |"
        for name, r in results.items()
    ]
    speedup = orig["build"] / ours["build"]
    ratio = ours["bytes"] / changed_bytes
    text = f"""# Benchmark: daily image rebuild where one customer's model changed

Command: `.venv/bin/python -m benchmarks.bench_image --rows {args.rows}`
(run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Docker Engine {client.version().get("Version")},
base image `{img.base_image}`, registry {args.registry}).

Releases: the bundled sample customers plus `{CHANGED}` ({args.rows:,} synthetic events); day 2 retrains only
`{", ".join(changed)}`. Changed model files: {changed_bytes / 1e6:.2f} MB
(all models: {all_bytes / 1e6:.2f} MB).
Both approaches use the same base image and the same wheels; day 1 was built and pushed first (warm cache and
registry), then day 2 was timed. Bytes pushed = growth of the registry's blob storage during the day-2 push.

| approach | day-2 build | day-2 push | bytes pushed |
| --- | --- | --- | --- |
{chr(10).join(rows)}

- rebuild speed-up: **{speedup:.1f}x** (target >= 5x)
- bytes pushed / changed model files: **{ratio:.2f}x** (target <= 1.1x); the original pushed
  {orig["bytes"] / changed_bytes:.0f}x the changed model files.
"""
    args.out.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
