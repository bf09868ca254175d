"""scripts/lib.sh: daemons started by the set-up scripts must not keep the set-up locks."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _open_files(pid: int) -> list[str]:
    """What ``pid`` holds open; an fd closed between listing and reading (the daemon may still be
    exec'ing) is skipped."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue
    return held


def test_a_daemon_started_under_the_setup_lock_does_not_hold_it(tmp_path: Path) -> None:
    lock, pidfile = tmp_path / "setup.lock", tmp_path / "daemon.pid"
    script = (
        "source scripts/lib.sh\n"
        f"exec 8>{lock}\nflock 8\n"
        f"start_background {tmp_path / 'daemon.log'} {pidfile} sleep 30\n"
    )
    subprocess.run(["bash", "-c", script], cwd=ROOT, check=True, timeout=20)
    pid = int(pidfile.read_text())
    try:
        assert str(lock) not in _open_files(pid)
        # the next set-up can take the lock while the daemon runs
        with lock.open("w") as fh:
            deadline = time.monotonic() + 5
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, "the lock is still held after the script exited"
                    time.sleep(0.05)
    finally:
        os.kill(pid, signal.SIGTERM)
