"""Running the API under uvicorn, with one or several worker processes.

Workers are started from an import string (``APP_FACTORY``), so each worker process builds its own app
and opens the release itself. The model files are memory-mapped read-only, so the workers share the same
page-cache pages: N workers do not cost N times the model memory.

Everything a worker needs travels in ``KWREC_*`` environment variables (which is also how a container is
configured), so a worker reads exactly the settings the parent resolved.
"""

from __future__ import annotations

import atexit
import logging
import logging.config
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from kwrec.adapters.stores import open_store
from kwrec.api import metrics
from kwrec.api.app import create_app
from kwrec.api.protocol import protocol_import_string
from kwrec.core.manifest import latest_version
from kwrec.reporting import logging_config
from kwrec.settings import Settings, load_settings

log = logging.getLogger("kwrec.api")

APP_FACTORY = "kwrec.api.server:app_from_env"


def app_from_env() -> FastAPI:
    """uvicorn's factory in every worker: settings from ``KWREC_*`` variables (and ``KWREC_CONFIG``)."""
    _log_like_uvicorn()
    return create_app(load_settings())


def _log_like_uvicorn() -> None:
    # uvicorn configures only its own loggers; without this, "release ready"/"not ready" lines are lost.
    ours, theirs = logging.getLogger("kwrec"), logging.getLogger("uvicorn.error")
    if not ours.handlers and theirs.handlers:
        ours.handlers = list(theirs.handlers)
        ours.setLevel(theirs.level or logging.INFO)
        ours.propagate = False


def pin_settings(settings: Settings, config: Path | None) -> str:
    """Export the settings a worker cannot rebuild by itself, and pin the release version.

    Without ``--model-version`` the newest release is resolved once, here, so that every worker serves
    the same version even when a new release lands while they start.
    """
    version = settings.serve.model_version or latest_version(open_store(settings.store, settings.s3))
    os.environ["KWREC_STORE"] = settings.store
    os.environ["KWREC_CACHE_DIR"] = str(settings.cache_dir)
    os.environ["KWREC_SERVE__MODEL_VERSION"] = version
    # Workers rebuild their settings from the environment: the log settings must travel too.
    os.environ["KWREC_LOG__FORMAT"] = settings.log.format
    os.environ["KWREC_LOG__LEVEL"] = settings.log.level
    os.environ["KWREC_LOG__RAW_QUERIES"] = str(settings.log.raw_queries).lower()
    if config is not None:
        os.environ["KWREC_CONFIG"] = str(config.resolve())
    return version


def setup_multiprocess_metrics(workers: int) -> None:
    """Several workers: each writes its samples to files in one directory that /metrics aggregates."""
    existing = metrics.multiprocess_dir()
    if existing is not None:
        metrics.prepare_multiprocess_dir(existing)
        return
    if workers <= 1:
        return
    directory = Path(tempfile.mkdtemp(prefix="kwrec-metrics-"))
    os.environ[metrics.MULTIPROC_ENV] = str(directory)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)


def serve(
    settings: Settings,
    *,
    config: Path | None = None,
    access_log: bool = False,
    factory: str = APP_FACTORY,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM: graceful shutdown).

    Logs follow ``settings.log`` (text or JSON lines, uvicorn's too); the access log, when on, carries
    each query string value's length only unless ``log.raw_queries``.
    """
    logs = settings.log
    log_config = logging_config(logs.format, logs.level, raw_queries=logs.raw_queries)
    logging.config.dictConfig(log_config)
    version = pin_settings(settings, config)
    setup_multiprocess_metrics(settings.serve.workers)
    log.info("kwrec: serving %s on %s:%d", version, settings.serve.host, settings.serve.port)
    uv = uvicorn.Config(
        factory,
        factory=True,
        http=protocol_import_string(),
        host=settings.serve.host,
        port=settings.serve.port,
        workers=settings.serve.workers,
        access_log=access_log,
        log_config=log_config,
        log_level=logs.level,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    sockets = [uv.bind_socket()]
    uds = settings.serve.uds
    if uds is not None:
        sockets.append(bind_unix_socket(Path(uds)))
        log.info("kwrec: also serving on unix socket %s", uds)
    server = uvicorn.Server(uv)
    try:
        if uv.workers > 1:
            Multiprocess(uv, sockets=sockets).run()
        else:
            server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    finally:
        if uds is not None:
            Path(uds).unlink(missing_ok=True)
    if uv.workers == 1 and not server.started:
        sys.exit(3)  # uvicorn's own exit code for a failed start-up


def bind_unix_socket(path: Path) -> socket.socket:
    """Listen on ``path`` (a stale socket of a crashed run is replaced), connectable by any local user.

    The docker target's nginx connects through this socket, so a switch between releases is a rename
    of the socket link it connects to, with no nginx reload that would drop clients' idle connections.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_socket():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o666)  # nginx's workers run as another user
    sock.set_inheritable(True)
    return sock
