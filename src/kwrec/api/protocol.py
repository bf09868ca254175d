"""uvicorn's HTTP protocol with TCP_NODELAY on every connection.

Starlette writes the response head and body in two writes. Without TCP_NODELAY, Nagle's algorithm holds
the second write until the client ACKs the first, and the client delays that ACK (~40 ms on Linux): every
answer then takes 40 ms. asyncio sets TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP, and the
listening socket that uvicorn hands to its worker processes (``--workers N``) has ``proto == 0``, so with
several workers no connection got it (measured: 700 req/s and p50 44 ms instead of thousands and < 1 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


def protocol_import_string() -> str:
    """The faster httptools parser when it is installed (as uvicorn's "auto" would pick), else h11."""
    if importlib.util.find_spec("httptools") is not None:
        return "kwrec.api.protocol_httptools:NoDelayHttpToolsProtocol"
    return "kwrec.api.protocol:NoDelayH11Protocol"
