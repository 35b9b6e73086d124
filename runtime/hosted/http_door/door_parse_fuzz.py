"""Fuzzes the HTTP door's request parsing in memory, fast enough for long campaigns: each input
is handed to the door's request handler (http.server's parser, then the door) as the bytes of one
connection, and what the handler writes back is checked exactly as door_fuzz.py checks what
comes back over a socket (well-formed HTTP/1.1 JSON answers, a refusal with an error, never a
5xx, never an exception). No socket and no thread per input: thousands of inputs per second
where the socket fuzzer makes hundreds; door_fuzz.py keeps covering the server around it.

    bazel run //runtime/hosted/http_door:door_parse_fuzz -- --seconds 60
"""
from __future__ import annotations

import io
import socket
import sys
from typing import Any

from lidl.fuzz import driver
from runtime.hosted.http_door import door as hd
from runtime.hosted.http_door import door_fuzz as checks


class _Connection:
    """What StreamRequestHandler takes from a socket: the input to read, the answers written."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.written = bytearray()

    def settimeout(self, _: float | None) -> None:
        pass

    def setsockopt(self, *_: Any) -> None:
        pass

    def makefile(self, mode: str, *_: Any) -> io.BytesIO:
        assert mode == "rb", mode
        return io.BytesIO(self.data)

    def sendall(self, data: bytes) -> None:
        self.written += data

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 1)


_handler: type | None = None


def _setup() -> None:
    global _handler
    checks._setup_token()
    _handler = hd.make_handler(hd.Door(checks.CFG, checks.PUBLIC, checks._node, log=lambda line: None))
    _handler.wbufsize = 0  # answers go out through sendall, as on a socket


def target(data: bytes) -> None:
    assert _handler is not None
    data = data.replace(b"@TOKEN@", checks.token().encode())
    conn = _Connection(data)
    try:
        _handler(conn, ("127.0.0.1", 2), None)  # handles every request of the connection, then returns
    except ConnectionError:
        pass  # a client gone away, as the server's handle_error ignores it
    out = bytes(conn.written)
    checks.check_answers(data, out, reset=False)


def main(argv: list[str] | None = None) -> int:
    return driver.main("http_door_parse", target, checks._seeds(), checks.mutate, argv, setup=_setup,
                       instrument=["runtime.hosted.http_door", "http.server", "http.client", "email",
                                   "ambience.tokens", "json"])


if __name__ == "__main__":
    socket.setdefaulttimeout(5.0)
    sys.exit(main())
