"""The door's HTTP side over a real socket, with a fake caller in place of the node: statuses,
JSON bodies, the token checks, counters and the log line of every refusal."""
from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ambience import keys, tokens
from ambience.console.rpc import CallError
from kernel.net import net
from lidl.runtime import codec
from runtime.hosted.http_door import door as hd

LABEL = "//deployments/camera_trap"
SECRET, PUBLIC = keys.token_keys(bytes(range(32)), LABEL)
CFG = hd.DoorConfig(
    deployment=LABEL, node="cloud", node_number=2, instance="database", network="internet", door=1, http=0,
    interface="database.SightingLog", object_id=2,
    procedures=(hd.Procedure("count", 1, True), hd.Procedure("range", 2, True), hd.Procedure("append", 0, False)),
    entry=("127.0.0.1", 1), console=("127.0.0.1", 2), timeout_ms=2000, max_body=1024)


class FakeNode:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: Exception | None = None

    def __call__(self, procedure: str, args: dict[str, Any]) -> Any:
        self.calls.append((procedure, args))
        if self.fail is not None:
            raise self.fail
        if procedure == "range" and not isinstance(args.get("first"), int):
            raise codec.JsonValueError("first", "expected an integer")
        return 7 if procedure == "count" else [{"event": 1}]


@pytest.fixture
def door() -> Iterator[tuple[hd.Door, FakeNode, list[str], int]]:
    node, logged = FakeNode(), list[str]()
    d = hd.Door(CFG, PUBLIC, node, log=logged.append)
    server = hd.make_server(d, "127.0.0.1", 0)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield d, node, logged, server.server_port
    server.shutdown()
    server.server_close()


def token(procedures: list[str] | None = None, expires: int | None = None, **kw: str) -> str:
    return tokens.issue(SECRET, kw.get("deployment", LABEL), kw.get("instance", "database"), procedures,
                        expires or tokens.parse_expires("1h"))


def request(port: int, path: str, body: bytes | str = b"{}", tok: str | None = None, method: str = "POST",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    h = dict(headers or {})
    if tok is not None:
        h["Authorization"] = f"Bearer {tok}"
    c.request(method, path, body=body if isinstance(body, bytes) else body.encode(), headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.getheader("Content-Type") == "application/json"
    return r.status, json.loads(data)


def test_call_returns_the_result_as_json(door):
    d, node, logged, port = door
    assert request(port, "/database/count", "{}", token(["count"])) == (200, 7)
    assert request(port, "/database/range", '{"first": 0, "count": 5}', token()) == (200, [{"event": 1}])
    assert node.calls == [("count", {}), ("range", {"first": 0, "count": 5})]
    assert logged == []


def test_keep_alive_answers_in_step(door):
    _, _, _, port = door
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    tok = token()
    for _ in range(3):
        c.request("POST", "/database/count", body=b"{}", headers={"Authorization": f"Bearer {tok}"})
        r = c.getresponse()
        assert (r.status, json.loads(r.read())) == (200, 7)
    c.request("POST", "/database/nope", body=b"{}")  # refused before its body was needed: drained
    r = c.getresponse()
    assert (r.status, r.getheader("Connection")) == (404, None)
    r.read()
    c.request("POST", "/database/count", body=b"{}", headers={"Authorization": f"Bearer {tok}"})
    r = c.getresponse()
    assert (r.status, json.loads(r.read())) == (200, 7)
    c.close()


def test_a_huge_body_is_not_read():
    import socket
    node = FakeNode()
    server = hd.make_server(hd.Door(CFG, PUBLIC, node, log=lambda line: None), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as s:
            s.sendall(b"POST /database/count HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n{")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413") and b"Connection: close" in head
        assert "limit" in json.loads(body)["error"] and node.calls == []
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path,body,tok,status,says", [
    ("/database/count", "{}", None, 401, "no token"),
    ("/database/count", "{}", "amb1.x.y", 401, "malformed"),
    ("/database/count", "{}", "expired", 401, "expired"),
    ("/database/count", "{}", "forged", 401, "bad_signature"),
    ("/database/count", "{}", "other_instance", 403, "wrong_instance"),
    ("/database/count", "{}", "other_deployment", 403, "wrong_deployment"),
    ("/database/count", "{}", "range_only", 403, "out_of_scope"),
    ("/database/count", "{not json", "good", 400, "not JSON"),
    ("/database/count", "[1]", "good", 400, "must be a JSON object"),
    ("/database/count", "", "good", 400, "must be a JSON object"),
    ("/database/range", '{"first": "x"}', "good", 400, "bad arguments: first: expected an integer"),
    ("/storage/count", "{}", "good", 404, "serves instance 'database', not 'storage'"),
    ("/database/drop", "{}", "good", 404, "no procedure 'drop'"),
    ("/database", "{}", "good", 404, "no such path"),
    ("/database/count", "x" * 2000, "good", 413, "more than the door's limit of 1024"),
])
def test_refusals(door, path, body, tok, status, says):
    d, node, logged, port = door
    toks = {"good": token(), "expired": tokens.issue(SECRET, LABEL, "database", None, 1000),
            "forged": token()[:-4] + ("AAAA" if not token().endswith("AAAA") else "BBBB"),
            "other_instance": token(instance="storage"), "other_deployment": token(deployment="//deployments/x"),
            "range_only": token(["range"])}
    got_status, doc = request(port, path, body, toks.get(tok, tok) if tok else None)
    assert got_status == status
    assert set(doc) == {"error"} and says in doc["error"]
    assert len(logged) == 1 and f" {status} " in logged[0]
    if tok and tok in toks:
        assert toks[tok].split(".")[1] not in logged[0]  # never the token
    if status != 400 or "bad arguments" not in says:
        assert node.calls == []
    assert d.counters.snapshot()["refused"] == {str(status): 1}


def test_not_post_is_405(door):
    _, _, logged, port = door
    status, doc = request(port, "/database/count", b"", None, method="PUT")
    assert status == 405 and "POST" in doc["error"] and len(logged) == 1
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/database/count")
    r = c.getresponse()
    assert r.status == 405 and r.getheader("Allow") == "POST"


@pytest.mark.parametrize("error,status", [
    (CallError(net.WireStatus.TIMEOUT, "no reply within 2 s (timeout)"), 504),
    (CallError(net.WireStatus.ACCESS_DENIED), 403),
    (CallError(net.WireStatus.NOT_FOUND), 502),
    (CallError(net.WireStatus.UNAVAILABLE, "cannot bind"), 502),
    (codec.RemoteError(codec.Status.internal, "count"), 502),
    (codec.RemoteError(codec.Status.timeout, "count"), 504),
    (codec.RemoteError(codec.Status.access_denied, "count"), 403),
    (TypeError("a bug"), 502),
])
def test_call_failures(door, error, status):
    _, node, logged, port = door
    node.fail = error
    got, doc = request(port, "/database/count", "{}", token())
    assert got == status and doc["error"] and len(logged) == 1


def test_status_counts_without_secrets(door):
    d, _, _, port = door
    tok = token()
    request(port, "/database/count", "{}", tok)
    request(port, "/database/count", "{}", None)
    request(port, "/database/count", "{}", token(["range"]))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/_status")
    r = c.getresponse()
    doc = json.loads(r.read())
    assert r.status == 200
    assert (doc["requests"], doc["answered"], doc["refusals"], doc["refused"]) == (3, 1, 2, {"401": 1, "403": 1})
    assert (doc["instance"], doc["door"], doc["deployment"]) == ("database", 1, LABEL)
    text = json.dumps(doc)
    assert "amb1." not in text and PUBLIC.hex() not in text


def test_config_and_keys_files(tmp_path):
    doc = {"ambience_doors": 1, "deployment": LABEL, "node": "cloud", "node_number": 2,
           "entry_endpoint": "127.0.0.1:7702", "console_endpoint": "127.0.0.1:7700",
           "doors": [{"instance": "database", "network": "internet", "door": 1, "http": 8480,
                      "interface": "database.SightingLog", "object_id": 2, "timeout_ms": 2000, "max_body": 65536,
                      "procedures": [{"name": "count", "id": 1, "idempotent": True}]}]}
    p = tmp_path / "cloud_doors.json"
    p.write_text(json.dumps(doc))
    cfg = hd.load_config(str(p), "database@internet")
    assert (cfg.entry, cfg.console, cfg.http, cfg.principal) == (("127.0.0.1", 7702), ("127.0.0.1", 7700), 8480,
                                                                 "door:database@internet")
    with pytest.raises(hd.DoorConfigError, match="has no door 'storage@internet'"):
        hd.load_config(str(p), "storage@internet")
    k = tmp_path / "cloud_door_keys.json"
    entry: dict[str, Any] = {"principal": "door:database@internet", "caller_instance": 1, "callee_node": "cloud",
                             "callee_node_id": 2, "encrypt": True, "key": "11" * 32}
    keys_doc: dict[str, Any] = {"deployment": LABEL, "node": "cloud", "doors": {"database@internet": entry},
                "token_public_key": PUBLIC.hex()}
    k.write_text(json.dumps(keys_doc))
    assert hd.load_keys(str(k), cfg) == hd.DoorKeys(bytes([0x11]) * 32, True, PUBLIC)
    changes: list[tuple[dict[str, Any], str]] = [({"doors": {}}, "no keys for door 'database@internet'"),
                         ({"deployment": "//x"}, "keys of '//x'"),
                         ({"doors": {"database@internet": dict(entry, caller_instance=2)}}, "different builds"),
                         ({"doors": {"database@internet": dict(entry, key="11")}}, "32 bytes")]
    for change, says in changes:
        k.write_text(json.dumps({**keys_doc, **change}))
        with pytest.raises(hd.DoorConfigError, match=says):
            hd.load_keys(str(k), cfg)


def test_shared_console_lets_the_address_go_when_idle():
    import time
    made: list[Any] = []

    class Client:
        closed = False

        def close(self) -> None:
            self.closed = True

    def make() -> Any:
        made.append(Client())
        return made[-1]

    # a linger long enough that a preempted test does not see it lapse between two calls
    console = hd.SharedConsole(make, linger_s=0.5)
    assert console.run(lambda c: 1) == 1 and console.run(lambda c: 2) == 2
    assert len(made) == 1  # kept while calls come
    deadline = time.monotonic() + 10  # the reaper closes it once idle for the linger
    while not made[0].closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert made[0].closed
    console.run(lambda c: 3)
    assert len(made) == 2
    console.close()
    assert made[1].closed


def test_calls_are_keyed_for_the_doors_own_node_only(monkeypatch, tmp_path):
    made: list[dict[str, Any]] = []

    class KeyedClient:  # the keyed console client's signature (SECURITY_SPEC.md)
        def __init__(self, bind: tuple[str, int], keys: Any, this_node: int = 0, caller_instance: int = 0) -> None:
            made.append({"bind": bind, "keys": keys, "caller_instance": caller_instance})

        def close(self) -> None:
            pass

    class Cls:
        PROCEDURES: list[Any] = []

    monkeypatch.setattr(hd, "RpcClient", KeyedClient)
    monkeypatch.setattr(hd, "load_clients", lambda d, s: {CFG.interface: Cls})
    monkeypatch.setattr(hd, "call_json", lambda rpc, route, cls, procedure, args: (route, procedure))
    caller, console = hd.rpc_caller(CFG, hd.DoorKeys(b"\x22" * 32, True, PUBLIC), "/lidl", ["a.lidl"])
    route, procedure = caller("count", {})
    console.close()
    assert procedure == "count"
    assert (route.destination, route.object_id, route.entry, route.caller_instance) == (2, 2, ("127.0.0.1", 1), 1)
    assert route.policy.timeout_us == 2_000_000
    [m] = made
    assert m["bind"] == CFG.console and m["caller_instance"] == 1
    assert m["keys"](2) == (b"\x22" * 32, True) and m["keys"](3) is None


def raw(port: int, data: bytes) -> tuple[bytes, Any]:
    """One raw request, the client's side then half-closed: (status line and headers, JSON body)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    return head, json.loads(body)


# Found by door_fuzz.py: each of these raised in the handler thread (a traceback, no answer), or
# answered without a status line, with a 501, or not at all.
@pytest.mark.parametrize("length", [b"\xb2", b"\xb3", b"\xb9", b"+2", b"1_0", b"0x2", b"2 2"])
def test_a_content_length_that_is_not_ascii_digits_is_refused(door, length):
    _, node, _, port = door
    for path in (b"/database/count", b"/database/nope"):
        head, doc = raw(port, b"POST " + path + b" HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n{}")
        assert head.startswith(b"HTTP/1.1 400") or head.startswith(b"HTTP/1.1 404"), head
        assert "error" in doc
    assert node.calls == []


def test_a_content_length_may_have_spaces_around_it(door):
    _, node, _, port = door
    head, doc = raw(port, f"POST /database/count HTTP/1.1\r\nAuthorization: Bearer {token()}\r\n"
                          "Content-Length:  2 \r\n\r\n{}".encode())
    assert head.startswith(b"HTTP/1.1 200") and doc == 7


@pytest.mark.parametrize("method", [b"HEAD", b"OPTIONS", b"BREW", b"P\xd6ST"])
def test_any_other_method_is_405_in_json(door, method):
    _, _, logged, port = door
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(method + b" /database/count HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405") and b"Allow: POST" in head, head
    if method != b"HEAD":  # the answer to HEAD has no body
        assert "is not allowed" in json.loads(body)["error"]
    assert len(logged) == 1


def test_an_http_0_9_request_is_answered_in_http_1_1(door):
    _, _, _, port = door
    head, doc = raw(port, b"GET /_status\r\n")
    assert head.startswith(b"HTTP/1.1 400") and "HTTP/0.9" in doc["error"]


def test_a_blank_line_before_the_request_line_is_skipped(door):
    _, _, _, port = door
    head, doc = raw(port, b"\r\nGET /_status HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and doc["requests"] == 0
    for blank in (b"\r\n\r\n", b"\x1d\n", b" \x1c\r\n"):  # str.split() takes \x1c-\x1f for spaces
        head, doc = raw(port, blank + b"GET /_status HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and doc == {"error": "empty request line"}


def test_a_long_path_is_not_echoed_whole(door):
    _, _, _, port = door
    head, doc = raw(port, b"POST /database/" + b"p" * 20000 + b" HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
    assert head.startswith(b"HTTP/1.1 404") and len(doc["error"]) < 200 and "..." in doc["error"]
