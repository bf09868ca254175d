"""Background work a serving process repeats for its whole life (metric flushes, rules polls)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def every(seconds: float, action: Callable[[], object], name: str) -> threading.Thread:
    """Run ``action`` every ``seconds`` on a daemon thread (it dies with the process); return the thread."""

    def loop() -> None:
        while True:
            time.sleep(seconds)
            action()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
