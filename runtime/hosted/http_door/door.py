"""The HTTP door of one exported instance: `POST /<instance>/<procedure>` with a JSON body and
`Authorization: Bearer <token>`, answered with the procedure's result as JSON.

    http_door --config cloud_doors.json --door database@internet --keys cloud_door_keys.json \\
              --entry 127.0.0.1:41001 --console 127.0.0.1:41000 --lidl-dir DIR --lidl a.lidl ...

The door is the outside's caller k (node 0, caller instance k; the plan numbers doors) and calls
through the console endpoint of its own node, the exported instance's node, with the key
K(door:<instance>@<network>, node) from the node's door keys file; it checks tokens with the deployment's
token public key only (tools/ambience/tokens.py). JSON <-> lidl is the console's code
(ambience.console.call.call_json). Node 0 has one reply address (the console's), which
`ambience call` shares: the door holds it only while calls come, and lets it go after
LINGER_S without one.

Answers: 200 the result as JSON; 400 bad JSON or arguments; 401 no, malformed, badly signed or
expired token; 403 the token's scope, or the node denies the call; 404 unknown instance or
procedure; 405 not POST; 413 a body larger than the limit; 504 the call timed out; 502 any other
failure of the call. Every refusal has a body `{"error": "..."}` and one log line on stderr.
`GET /_status` (no token) gives the door's counters as JSON.
"""
from __future__ import annotations

import argparse
import inspect
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ambience import tokens
from ambience.console.call import ConsoleError, call_json, load_clients
from ambience.console.rpc import CallError, Route, RpcClient
from kernel.net import net
from lidl.runtime import codec

DOORS_FORMAT = 1
DEFAULT_MAX_BODY = 64 << 10
DRAIN_MAX = 1 << 20  # a refused request's body is read (and dropped) up to this size
LINGER_S = 0.25  # how long the door keeps node 0's reply address after its last call


class DoorConfigError(Exception):
    """A config or key file the door cannot use (one line)."""


@dataclass(frozen=True)
class Procedure:
    name: str
    id: int
    idempotent: bool


@dataclass(frozen=True)
class DoorConfig:
    """One door's non-secret facts, from the node's generated <node>_doors.json."""

    deployment: str  # the deployment label tokens name ("d")
    node: str
    node_number: int
    instance: str
    network: str
    door: int  # caller instance k of node 0
    http: int
    interface: str
    object_id: int
    procedures: tuple[Procedure, ...]
    entry: tuple[str, int]  # the node's console endpoint
    console: tuple[str, int]  # node 0's reply address
    timeout_ms: int
    max_body: int

    @property
    def principal(self) -> str:
        return f"door:{self.instance}@{self.network}"


@dataclass(frozen=True)
class DoorKeys:
    key: bytes  # K(door:<instance>@<network>, node)
    encrypt: bool
    token_public_key: bytes


def parse_endpoint(text: str, what: str) -> tuple[str, int]:
    host, _, port = str(text).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DoorConfigError(f"{what}: '{text}' is not HOST:PORT")
    return host, int(port)


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise DoorConfigError(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise DoorConfigError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None


def load_config(path: str, door: str) -> DoorConfig:
    """The door `instance@network` of a node's doors file."""
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("ambience_doors") != DOORS_FORMAT:
        raise DoorConfigError(f"{path}: not an ambience doors file (expected \"ambience_doors\": {DOORS_FORMAT})")
    found = [d for d in doc.get("doors", []) if f"{d.get('instance')}@{d.get('network')}" == door]
    if not found:
        have = ", ".join(f"{d.get('instance')}@{d.get('network')}" for d in doc.get("doors", [])) or "none"
        raise DoorConfigError(f"{path}: node '{doc.get('node')}' has no door '{door}' (doors: {have})")
    d = found[0]
    try:
        return DoorConfig(
            deployment=doc["deployment"], node=doc["node"], node_number=int(doc["node_number"]),
            instance=d["instance"], network=d["network"], door=int(d["door"]), http=int(d["http"]),
            interface=d["interface"], object_id=int(d["object_id"]),
            procedures=tuple(Procedure(p["name"], int(p["id"]), bool(p["idempotent"])) for p in d["procedures"]),
            entry=parse_endpoint(doc["entry_endpoint"], f"{path}: entry_endpoint"),
            console=parse_endpoint(doc["console_endpoint"], f"{path}: console_endpoint"),
            timeout_ms=int(d.get("timeout_ms", 0)) or net.default_policy("udp").timeout_us // 1000,
            max_body=int(d.get("max_body", DEFAULT_MAX_BODY)))
    except (KeyError, TypeError, ValueError) as e:
        raise DoorConfigError(f"{path}: door '{door}' is incomplete ({e})") from None


def load_keys(path: str, cfg: DoorConfig) -> DoorKeys:
    """This door's secrets from the node's <node>_door_keys.json (the build's keygen step):
    {"deployment", "node", "doors": {"<instance>@<network>": {"key": hex, "encrypt": bool,
    "caller_instance": k, ...}}, "token_public_key": hex}."""
    doc = _read_json(path)
    name = f"{cfg.instance}@{cfg.network}"
    if not isinstance(doc, dict) or not isinstance(doc.get("doors"), dict):
        raise DoorConfigError(f"{path}: not a door keys file (no \"doors\")")
    if doc.get("deployment") != cfg.deployment:
        raise DoorConfigError(f"{path}: keys of '{doc.get('deployment')}', not of '{cfg.deployment}'")
    entry = doc["doors"].get(name)
    if not isinstance(entry, dict):
        raise DoorConfigError(f"{path}: no keys for door '{name}' (has: {', '.join(sorted(doc['doors'])) or 'none'})")
    if entry.get("caller_instance") != cfg.door:
        raise DoorConfigError(f"{path}: door '{name}' is caller instance {entry.get('caller_instance')} there and "
                              f"{cfg.door} in the plan: the keys and the plan are of different builds")
    try:
        public = bytes.fromhex(doc["token_public_key"])
        key = bytes.fromhex(entry["key"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise DoorConfigError(f"{path}: needs token_public_key and the door's key as hex") from None
    if len(public) != 32 or len(key) != 32:
        raise DoorConfigError(f"{path}: token_public_key and key are 32 bytes each")
    return DoorKeys(key, bool(entry.get("encrypt", True)), public)


# ----------------------------------------------------------------------------- calls


Caller = Callable[[str, dict[str, Any]], Any]  # (procedure, JSON args) -> JSON result; raises as call_json


class SharedConsole:
    """Node 0's reply address, held while calls come: one call at a time (one address), the
    client closed after `linger_s` idle so that `ambience call` can bind it in between."""

    def __init__(self, make_client: Callable[[], RpcClient], linger_s: float = LINGER_S) -> None:
        self._make = make_client
        self._linger = linger_s
        self._lock = threading.Lock()
        self._client: RpcClient | None = None
        self._last = 0.0
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def run(self, fn: Callable[[RpcClient], Any]) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            try:
                return fn(self._client)
            finally:
                self._last = time.monotonic()

    def _reap(self) -> None:
        while not self._stop.wait(self._linger / 2):
            with self._lock:
                if self._client is not None and time.monotonic() - self._last > self._linger:
                    self._client.close()
                    self._client = None

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def rpc_caller(cfg: DoorConfig, keys: DoorKeys, lidl_dir: str, lidl: list[str]) -> tuple[Caller, SharedConsole]:
    """Calls of the exported instance through the node's console endpoint, as node 0 instance k."""
    try:
        clients = load_clients(lidl_dir, lidl)
    except ConsoleError as e:
        raise DoorConfigError(str(e)) from None
    cls = clients.get(cfg.interface)
    if cls is None:
        raise DoorConfigError(f"no lidl source of interface '{cfg.interface}' among the door's sources")
    p = net.default_policy("udp")
    t = cfg.timeout_ms * 1000
    route = Route(cfg.node_number, cfg.object_id, cfg.entry,
                  net.CallPolicy(t, min(p.first_retry_us, t), min(p.max_retry_us, t), p.max_attempts), cfg.door)

    keyed_calls = "keys" in inspect.signature(RpcClient.__init__).parameters
    if not keyed_calls:
        # Until the console's client seals calls (SECURITY_SPEC.md), a node that requires
        # protection refuses them: said once, loudly, rather than failing every call silently.
        sys.stderr.write("http_door: warning: this console RPC client has no keyed calls; the door calls "
                         "unauthenticated\n")

    def make_client() -> RpcClient:
        if not keyed_calls:
            return RpcClient(cfg.console)
        key, encrypt, node = keys.key, keys.encrypt, cfg.node_number

        def key_of(destination: int) -> tuple[bytes, bool] | None:
            return (key, encrypt) if destination == node else None  # the door calls its own node only

        keyed: Any = RpcClient  # keyword arguments of the keyed console (SECURITY_SPEC.md)
        client: RpcClient = keyed(cfg.console, keys=key_of, caller_instance=cfg.door)
        return client

    console = SharedConsole(make_client)
    return (lambda procedure, args: console.run(lambda rpc: call_json(rpc, route, cls, procedure, args))), console


# ----------------------------------------------------------------------------- HTTP


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.answered = 0
        self.refused: dict[str, int] = {}
        self.started = time.time()

    def count(self, status: int) -> None:
        with self._lock:
            self.requests += 1
            if status == 200:
                self.answered += 1
            else:
                self.refused[str(status)] = self.refused.get(str(status), 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "answered": self.answered, "refused": dict(self.refused),
                    "refusals": sum(self.refused.values()), "uptime_s": round(time.time() - self.started, 3)}


class Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _call_error_status(e: CallError) -> int:
    if e.status == net.WireStatus.TIMEOUT:
        return 504
    if e.status == net.WireStatus.ACCESS_DENIED:
        return 403
    return 502


class Door:
    """The HTTP side: checks, maps and counts; `caller` does the calls."""

    def __init__(self, cfg: DoorConfig, token_public_key: bytes, caller: Caller,
                 log: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.public = token_public_key
        self.caller = caller
        self.counters = Counters()
        self.procedures = {p.name: p for p in cfg.procedures}
        self.log = log or (lambda line: sys.stderr.write(line + "\n"))

    def status(self) -> dict[str, Any]:
        c = self.cfg
        return dict(self.counters.snapshot(), deployment=c.deployment, node=c.node, instance=c.instance,
                    network=c.network, door=c.door, port=c.http, procedures=sorted(self.procedures))

    def handle(self, method: str, path: str, headers: dict[str, str], read_body: Callable[[int], bytes],
               peer: str) -> tuple[int, Any]:
        """(status, JSON body) of one request; counts it and logs a refusal."""
        if method == "GET" and path.split("?")[0] == "/_status":
            return 200, self.status()
        try:
            result = self._handle(method, path, headers, read_body)
        except Refusal as r:
            self.counters.count(r.status)
            self.log(f"http_door {self.cfg.instance}@{self.cfg.network}: {peer} {method} {path[:200]}: "
                     f"{r.status} {r}")
            return r.status, {"error": str(r)}
        self.counters.count(200)
        return 200, result

    def refused_by_parser(self, status: int, text: str, peer: str) -> None:
        """A request the HTTP layer could not parse: counted and logged like any refusal."""
        self.counters.count(status)
        self.log(f"http_door {self.cfg.instance}@{self.cfg.network}: {peer}: {status} {text[:200]}")

    def _handle(self, method: str, path: str, headers: dict[str, str], read_body: Callable[[int], bytes]) -> Any:
        if method != "POST":
            raise Refusal(405, f"{method} is not allowed: call a procedure with POST /{self.cfg.instance}/<procedure>")
        parts = path.split("?")[0].split("/")
        if len(parts) != 3 or parts[0] != "":
            raise Refusal(404, f"no such path: call a procedure with POST /{self.cfg.instance}/<procedure>")
        instance, procedure = parts[1], parts[2]
        if instance != self.cfg.instance:
            raise Refusal(404, f"this door serves instance '{self.cfg.instance}', not '{_shown(instance)}'")
        if procedure not in self.procedures:
            raise Refusal(404, f"'{instance}' has no procedure '{_shown(procedure)}' "
                               f"(has: {', '.join(sorted(self.procedures))})")
        length_text = headers.get("content-length")
        if headers.get("transfer-encoding"):
            raise Refusal(400, "send the body with a Content-Length (no chunked encoding)")
        length = content_length(length_text) if length_text is not None else 0
        if length is None:
            raise Refusal(400, "the Content-Length is not a number")
        if length > self.cfg.max_body:
            raise Refusal(413, f"the body is {length} bytes, more than the door's limit of {self.cfg.max_body}")
        body = read_body(length)  # read before any answer, so the connection stays in step
        auth = headers.get("authorization", "")
        scheme, _, token = auth.strip().partition(" ")
        if not auth:
            raise Refusal(401, "no token: send Authorization: Bearer <token> (`ambience token issue`)")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal(401, "the Authorization header is not 'Bearer <token>'")
        try:
            tokens.check(token.strip(), self.public, self.cfg.deployment, instance, procedure)
        except tokens.TokenError as e:
            raise Refusal(e.status, f"token refused ({e.reason}): {e}") from None
        try:
            args = json.loads(body.decode("utf-8"), parse_constant=_no_constant) if body.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise Refusal(400, f"the body is not JSON: {getattr(e, 'msg', 'not UTF-8')}") from None
        except ValueError as e:  # NaN / Infinity: not JSON (RFC 8259), never passed on
            raise Refusal(400, f"the body is not JSON: {e}") from None
        except RecursionError:
            raise Refusal(400, "the body is not JSON the door accepts: nested too deeply") from None
        if not isinstance(args, dict):
            raise Refusal(400, "the body must be a JSON object of the arguments, e.g. {}")
        try:
            return self.caller(procedure, args)
        except codec.JsonValueError as e:
            raise Refusal(400, f"bad arguments: {e}") from None
        except codec.RemoteError as e:
            status = {codec.Status.timeout: 504, codec.Status.access_denied: 403}.get(e.status, 502)
            raise Refusal(status, f"the call ended with {e.status.name}") from None
        except CallError as e:
            raise Refusal(_call_error_status(e), f"the call failed: {e}") from None
        except Exception as e:  # a bug here or in the client: the caller gets an answer, the log the cause
            raise Refusal(502, f"the door failed: {type(e).__name__}: {e}") from None


def _shown(text: str, limit: int = 80) -> str:
    """A name from the request as an error message quotes it: never the whole of a 64 KiB path."""
    return text if len(text) <= limit else text[:limit] + "..."


def content_length(text: str) -> int | None:
    """A Content-Length value (RFC 9110: 1*DIGIT, ASCII only), or None. int() alone also takes
    '+5', '1_0' and non-ASCII digits ('\u00b2' passes str.isdigit but not int): a door that
    read another length than a proxy in front of it would be out of step with it."""
    text = text.strip(" \t")
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def make_handler(door: Door) -> type[BaseHTTPRequestHandler]:
    """The HTTP request handler of `door` (http.server parses, the door answers); make_server
    serves it on a socket, the parse fuzzer drives it on bytes in memory."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
        server_version = "ambience-http-door"
        sys_version = ""
        raw_requestline: bytes  # set by handle_one_request (not in typeshed)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """What the HTTP parser refuses before a request exists (a garbled request line, huge
            headers): answered like every refusal, in HTTP/1.1 with a JSON body, and counted."""
            if self.request_version == "HTTP/0.9":  # the door never speaks HTTP/0.9
                self.request_version = "HTTP/1.1"
            if code == 501:  # http.server's answer to a method without a do_* handler
                code, message = 405, (f"{self.command} is not allowed: call a procedure with "
                                      f"POST /{door.cfg.instance}/<procedure>")
            text = message or self.responses.get(code, ("error",))[0]
            door.refused_by_parser(code, text, f"{self.client_address[0]}:{self.client_address[1]}")
            data = (json.dumps({"error": text}, ensure_ascii=False) + "\n").encode("utf-8")
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if code == 405:
                self.send_header("Allow", "POST")
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(data)

        def parse_request(self) -> bool:
            # RFC 9112 2.2: ignore an empty line before the request line (http.server would close
            # the connection without an answer); a request line that is still empty is refused.
            # First what send_error needs, before super().parse_request() sets it.
            self.command, self.request_version, self.requestline = None, "HTTP/1.1", ""  # type: ignore[assignment]
            self.close_connection = True
            line = self.raw_requestline
            if line in (b"\r\n", b"\n"):
                line = self.raw_requestline = self.rfile.readline(65537)
                if not line:
                    return False
            if not line.decode("iso-8859-1").split():  # as http.server splits it: '\x1d' is a space there
                self.send_error(400, "empty request line")
                return False
            if not super().parse_request():
                return False
            if self.request_version == "HTTP/0.9":  # `GET /path`: answered in HTTP/1.1, then closed
                self.send_error(400, "send an HTTP/1.1 request (the door does not speak HTTP/0.9)")
                return False
            return True

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            # Repeated headers count as one, comma-joined: two Content-Lengths are not a number.
            headers["content-length"] = ",".join(self.headers.get_all("Content-Length") or ["0"])
            if headers["content-length"] == "0" and "content-length" not in {k.lower() for k in self.headers}:
                del headers["content-length"]
            read = [False]

            def read_body(n: int) -> bytes:
                read[0] = True
                return self.rfile.read(n)

            status, doc = door.handle(self.command, self.path, headers, read_body,
                                      f"{self.client_address[0]}:{self.client_address[1]}")
            length = content_length(headers.get("content-length", "0"))
            if not read[0] and length is not None and 0 < length <= DRAIN_MAX:
                # read what the client sends before answering: a socket closed on unread data is
                # reset, and the client may lose the answer
                read_body(length)
            data = (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 405:
                self.send_header("Allow", "POST")
            if not read[0] and (headers.get("content-length", "0") != "0" or "transfer-encoding" in headers):
                self.send_header("Connection", "close")  # a body is left unread: the stream is out of step
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:  # refusals are logged by the door
            pass

    return Handler


def make_server(door: Door, host: str, port: int) -> ThreadingHTTPServer:
    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # clients connecting at once are queued, not left to retry a SYN

        def handle_error(self, request: Any, client_address: Any) -> None:
            if isinstance(sys.exc_info()[1], ConnectionError):
                return  # the client went away: nothing to answer, nothing wrong here
            super().handle_error(request, client_address)

    return Server((host, port), make_handler(door))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="http_door", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="the node's <node>_doors.json (generated)")
    ap.add_argument("--door", required=True, metavar="INSTANCE@NETWORK", help="which of the node's doors")
    ap.add_argument("--keys", required=True, help="the node's <node>_door_keys.json (the build's keygen step)")
    ap.add_argument("--entry", help="HOST:PORT of the node's console endpoint here (default: the plan's)")
    ap.add_argument("--console", help="HOST:PORT of node 0's reply address here (default: the plan's)")
    ap.add_argument("--listen", help="HOST:PORT to listen on (default: 127.0.0.1 and the plan's port)")
    ap.add_argument("--lidl-dir", required=True, help="the directory of the lidl sources")
    ap.add_argument("--lidl", action="append", default=[], help="lidl source, relative to --lidl-dir (repeatable)")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config, args.door)
        if args.entry:
            cfg = _replace(cfg, entry=parse_endpoint(args.entry, "--entry"))
        if args.console:
            cfg = _replace(cfg, console=parse_endpoint(args.console, "--console"))
        keys = load_keys(args.keys, cfg)
        caller, console = rpc_caller(cfg, keys, args.lidl_dir, args.lidl)
        host, port = parse_endpoint(args.listen, "--listen") if args.listen else ("127.0.0.1", cfg.http)
        door = Door(cfg, keys.token_public_key, caller)
        server = make_server(door, host, port)
    except DoorConfigError as e:
        sys.stderr.write(f"http_door: error: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"http_door: error: cannot listen: {e.strerror}\n")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"http_door: {cfg.principal} of '{cfg.deployment}' (node 0 instance {cfg.door}) listening on "
          f"http://{host}:{server.server_port}/{cfg.instance}/<procedure>", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        console.close()
    return 0


def _replace(cfg: DoorConfig, **changes: Any) -> DoorConfig:
    from dataclasses import replace
    return replace(cfg, **changes)


if __name__ == "__main__":
    sys.exit(main())
