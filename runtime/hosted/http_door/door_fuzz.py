"""Fuzzes the HTTP door's request parsing with raw bytes over loopback: a real door server
(make_server, a fake node behind it) gets each input on a fresh connection, the client's side
then half-closed. Whatever the bytes, the door must answer within the time limit with
well-formed HTTP/1.1 responses (status line, Content-Type: application/json, a Content-Length
that matches, a JSON body, `{"error": ...}` on every refusal), never a 5xx (the fake node never
fails), never an exception in a handler thread, and a server that still answers afterwards.

    python3 runtime/hosted/http_door/door_fuzz.py --seconds 60     (PYTHONPATH=repo root:tools)
    bazel run //runtime/hosted/http_door:door_fuzz -- --seconds 60

Seeds: runtime/hosted/http_door/fuzz_seeds/, valid and near-valid requests; `@TOKEN@` is replaced
by a token the run issues. Mutations: method, path, version, headers (Content-Length values,
duplicates, chunked, folding, non-ASCII), body (JSON variants), pipelining; bytes besides.
"""
from __future__ import annotations

import json
import os
import random
import re
import socket
import sys
import threading
from typing import Any

from ambience import keys, tokens
from lidl.fuzz import driver
from runtime.hosted.http_door import door as hd

LABEL = "//deployments/camera_trap"
SECRET, PUBLIC = keys.token_keys(bytes(range(32)), LABEL)
CFG = hd.DoorConfig(
    deployment=LABEL, node="cloud", node_number=2, instance="database", network="internet", door=1, http=0,
    interface="database.SightingLog", object_id=2,
    procedures=(hd.Procedure("count", 1, True), hd.Procedure("range", 2, True), hd.Procedure("append", 0, False)),
    entry=("127.0.0.1", 1), console=("127.0.0.1", 2), timeout_ms=2000, max_body=1024)
SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_seeds")
ANSWER_TIMEOUT_S = 5.0


def _node(procedure: str, args: dict[str, Any]) -> Any:
    return {"procedure": procedure, "args": len(args)}


class _Server:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.door = hd.Door(CFG, PUBLIC, _node, log=lambda line: None)
        self.server = hd.make_server(self.door, "127.0.0.1", 0)
        original = self.server.handle_error

        def handle_error(request: Any, client_address: Any) -> None:
            e = sys.exc_info()[1]
            if e is not None and not isinstance(e, ConnectionError):
                self.errors.append(e)
            original(request, client_address)

        self.server.handle_error = handle_error  # type: ignore[method-assign]
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


_server: _Server | None = None
_token = ""


def _setup_token() -> None:
    global _token
    _token = tokens.issue(SECRET, LABEL, "database", None, tokens.parse_expires("24h"))


def token() -> str:
    """A valid token of this run (inputs say @TOKEN@ where it goes)."""
    return _token


def _setup() -> None:
    global _server
    _server = _Server()
    _setup_token()


def _exchange(port: int, data: bytes) -> tuple[bytes, bool]:
    """What the door sent back, and whether the connection was reset (the door closed on data it
    had not read: the kernel may then drop the end of the answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the door answered and closed before it had everything: what it sent still counts
        out = b""
        reset = False
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                reset = True  # closed on unread data (a refusal that did not read the body)
                break
            except TimeoutError:
                raise AssertionError(f"no answer within {ANSWER_TIMEOUT_S} s (a hang); got {out[:300]!r}") from None
            if not chunk:
                break
            out += chunk
    return out, reset


_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n")


def _responses(out: bytes, head_request: bool, reset: bool) -> list[tuple[int, dict[str, str], Any]]:
    """Every response in `out`; AssertionError unless each is well-formed. With a HEAD among the
    requests, a response may lack its body (the answer to HEAD has none)."""
    found = []
    while out:
        if reset and b"\r\n\r\n" not in out:
            break  # the rest of the answer was lost with the reset
        m = _STATUS.match(out)
        assert m, f"not an HTTP/1.1 status line: {out[:200]!r}"
        head_end = out.find(b"\r\n\r\n")
        assert head_end >= 0, f"headers never end: {out[:300]!r}"
        if m.group(1).startswith(b"1"):  # an interim answer (100 Continue): headers only
            out = out[head_end + 4:]
            continue
        headers: dict[str, str] = {}
        for line in out[m.end():head_end].split(b"\r\n"):
            if not line:
                continue
            name, sep, value = line.partition(b":")
            assert sep, f"a header line without ':': {line!r}"
            headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip()
        assert headers.get("content-type") == "application/json", f"Content-Type: {headers.get('content-type')}"
        length = int(headers["content-length"])
        body = out[head_end + 4:head_end + 4 + length]
        if head_request and (len(body) < length or not body.startswith((b"{", b"[", b"\"", b"n", b"t", b"f"))
                             and not body[:1].isdigit()):
            found.append((int(m.group(1)), headers, {"error": "(HEAD)"}))
            out = out[head_end + 4:]
            continue
        if reset and len(body) < length:
            break
        assert len(body) == length, f"the body has {len(body)} bytes, Content-Length says {length}"
        doc = json.loads(body)
        found.append((int(m.group(1)), headers, doc))
        out = out[head_end + 4 + length:]
    return found


def target(data: bytes) -> None:
    assert _server is not None
    data = data.replace(b"@TOKEN@", _token.encode())
    out, reset = _exchange(_server.port, data)
    errors, _server.errors[:] = list(_server.errors), []
    if errors:
        raise AssertionError(f"the door's handler raised {type(errors[0]).__name__}: {errors[0]}") from errors[0]
    check_answers(data, out, reset)


def check_answers(data: bytes, out: bytes, reset: bool) -> None:
    """AssertionError unless `out` is what the door may answer to the requests in `data`."""
    answers = _responses(out, b"HEAD" in data.upper(), reset)
    if not answers and not reset:
        # Nothing to answer is right only when no request line arrived (nothing, or one blank line).
        assert data in (b"", b"\n", b"\r\n"), f"no answer to {data[:200]!r}"
    for status, _, doc in answers:
        # 505 is http.server's answer to HTTP/2 and other versions: right, and JSON like the rest
        assert status < 500 or status == 505, f"status {status}: {doc}"
        if status != 200:
            assert isinstance(doc, dict) and isinstance(doc.get("error"), str), f"refusal {status} without error: {doc}"


METHODS = [b"POST", b"GET", b"HEAD", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"CONNECT", b"post", b"P\xd6ST", b"",
           b"POST POST", b"BREW"]
PATHS = [b"/database/count", b"/database/range", b"/database/append", b"/_status", b"/_status?x=1", b"/", b"//",
         b"/database", b"/database/count/x", b"/database/count?q", b"*", b"http://x/database/count", b"/%00",
         b"/database/\xff", b"/" + b"a" * 70000, b"/database/count#f", b"", b"/database/ count"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/0.9", b"HTTP/2.0", b"HTTP/1.10", b"HTTP/11", b"http/1.1", b"HTTP/1.1x",
            b"", b"HTTP/", b"HTTP/1.1 extra"]
LENGTHS = [b"0", b"2", b"-1", b"+2", b" 2", b"2 ", b"0x10", b"1e3", b"\xb2", b"\xb3", b"\xb9", b"99999999999999999999",
           b"1025", b"1024", b"2, 2", b"", b"\xbd", b"\x00"]
HEADERS = [b"Transfer-Encoding: chunked", b"Expect: 100-continue", b"Connection: close", b"Connection: keep-alive",
           b"Authorization: Bearer @TOKEN@", b"Authorization: Bearer", b"Authorization: bearer  @TOKEN@ ",
           b"Authorization: Basic x", b"Authorization: Bearer amb1.x.y", b"Authorization: \xff", b"X: \xc3\x28",
           b" folded: line", b"NoColon", b": empty", b"Host: x", b"Content-Type: text/plain", b"X-" + b"a" * 70000]
BODIES = [b"{}", b'{"first": 0, "count": 5}', b"[]", b"null", b"NaN", b'{"a": Infinity}', b"[" * 5000, b"{",
          b"\xff\xfe", b'"\\ud800"', b'{"a": 1e999}', b"1" * 5000, b'{"first": 99999999999999999999999}', b""]


def _parts(data: bytes) -> tuple[list[bytes], bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body if sep else b""


def mutate(data: bytes, rng: random.Random) -> bytes:
    lines, body = _parts(data)
    op = rng.randrange(9)
    first = lines[0].split(b" ") if lines else [b""]
    while len(first) < 3:
        first.append(b"")
    if op == 0:
        first[0] = rng.choice(METHODS)
    elif op == 1:
        first[1] = rng.choice(PATHS)
    elif op == 2:
        first[2] = rng.choice(VERSIONS)
    elif op == 3:
        lines.insert(rng.randint(1, len(lines)), b"Content-Length: " + rng.choice(LENGTHS))
    elif op == 4:
        lines.insert(rng.randint(1, len(lines)), rng.choice(HEADERS))
    elif op == 5 and len(lines) > 1:
        del lines[rng.randrange(1, len(lines))]
    elif op == 6:
        body = rng.choice(BODIES)
        lines = [ln for ln in lines if not ln.lower().startswith(b"content-length")]
        lines.append(b"Content-Length: " + str(len(body)).encode())
    elif op == 7:  # pipelining: the request again, or another seed's start
        return data + data[:rng.randint(0, len(data))]
    else:
        body = body[:rng.randint(0, len(body))]  # shorter than its Content-Length
    lines[0] = b" ".join(x for x in first if x) if rng.random() < 0.9 else b" ".join(first)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _seeds() -> list[bytes]:
    out = []
    for f in sorted(os.listdir(SEEDS)):
        with open(os.path.join(SEEDS, f), "rb") as fh:
            # the files are readable text with LF line ends; HTTP wants CRLF
            head, _, body = fh.read().partition(b"\n\n")
            out.append(head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + body.rstrip(b"\n"))
    return out


def main(argv: list[str] | None = None) -> int:
    return driver.main("http_door", target, _seeds(), mutate, argv, setup=_setup,
                       instrument=["runtime.hosted.http_door", "http.server", "http.client", "email", "ambience.tokens",
                                   "json"])


if __name__ == "__main__":
    sys.exit(main())
