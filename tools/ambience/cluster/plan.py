"""The cluster plan: from the node plans of one deployment, which processes run, which serial
lines the link emulator owns, where every UDP endpoint lives on this machine, and which of them
the emulator relays (a UDP network given a `--link` model).

Pure functions of their inputs (no processes, sockets or files are touched): the runner
(`runner.py`) carries the plan out; `plan_test.py` pins it.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ambience.backend import CONSOLE_ADDRESS, CONSOLE_NETWORK, CONSOLE_NODE, CONSOLE_PORT
from ambience.plan_json import NodeDocument

CONSOLE_UART = 0  # UART0 of an MCU board is its console on the runner's stdio
# UART4 of an MCU board is its sensor input (services/motion/pir.hpp) unless a network uses it:
# QEMU listens on a socket of the cluster's directory for whoever injects sensor records.
SENSOR_UART = 4
# UDP endpoints get X.1, X.2, ... of the first loopback /24; an endpoint on an emulated UDP
# network binds in the second instead, and the emulator's relay takes its usual address, where
# every other node sends. The runner moves a cluster to other subnets when these are taken (by
# another cluster on this machine).
LOOPBACK_SUBNETS = ("127.0.1", "127.0.2")
SLIRP_LOOPBACK = "127.0.0.1"  # where QEMU user networking delivers what a guest sends to its host address


class ClusterPlanError(Exception):
    pass


@dataclass(frozen=True)
class NodeImage:
    """One node as the build hands it over: its image and its loaded plan document."""

    name: str
    kind: str  # "hosted" (an executable) | "mcu" (an ELF booted in QEMU)
    image: str
    doc: NodeDocument
    machine: str = ""  # QEMU machine of an MCU board


@dataclass(frozen=True)
class UdpMapping:
    """A plan address/port of a node on a UDP network -> the loopback endpoint it really uses."""

    network: str
    node: str
    address: str
    port: int
    host: str
    host_port: int

    def arg(self) -> str:
        return f"{self.address}:{self.port}={self.host}:{self.host_port}"


@dataclass(frozen=True)
class UdpRelay:
    """An endpoint of an emulated UDP network: the emulator listens where the others send to it
    (`public`) and passes each datagram, with the network's faults, to where it really is
    (`private`), and the answers back the same way. `guests`: the MCU nodes whose datagrams
    reach it through QEMU user networking (their source address is QEMU's, not their own)."""

    network: str
    node: str
    public: tuple[str, int]
    private: tuple[str, int]
    guests: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineEnd:
    """One node's end of a serial line: a pty for a hosted node, a unix socket that QEMU
    connects to for an MCU node (the runner listens on it)."""

    network: str
    node: str
    kind: str  # "pty" | "socket"
    uart: int  # the endpoint's channel: UART N of an MCU board
    socket_path: str = ""

    @property
    def id(self) -> str:
        return f"{self.network}.{self.node}"


@dataclass(frozen=True)
class SerialLine:
    """A serial network: the emulator forwards what one end sends to every other end."""

    network: str
    ends: tuple[LineEnd, ...]


@dataclass(frozen=True)
class ProcessPlan:
    """How one node is started. `argv(paths)` fills in the pty paths, known once allocated."""

    node: str
    kind: str
    base_argv: tuple[str, ...]
    udp_map: tuple[UdpMapping, ...] = ()  # hosted: every UDP endpoint of the cluster
    serial: tuple[LineEnd, ...] = ()  # this node's ends, in UART order on MCU boards
    nic: str = ""  # MCU: the -nic argument of its Ethernet, if it is on a UDP network
    after: tuple[str, ...] = ()  # nodes this one calls or relays through: started and healthy first
    sensor: str = ""  # MCU: the socket QEMU listens on for the board's sensor input (SENSOR_UART)
    storage_dir: str = ""  # hosted: the machine's disk, for a storage service it provides

    def argv(self, paths: Mapping[str, str] | None = None, exit_after_ms: int | None = None) -> list[str]:
        paths = paths or {}
        out = list(self.base_argv)
        if self.kind == "hosted":
            if self.udp_map:
                out += ["--udp-map", ",".join(m.arg() for m in self.udp_map)]
            for end in self.serial:
                if end.id not in paths:
                    raise ClusterPlanError(f"no pty for the '{end.network}' line of node '{self.node}'")
                out += ["--serial", f"{end.network}={paths[end.id]}"]
            if self.storage_dir:
                out += ["--storage-dir", self.storage_dir]
            if exit_after_ms is not None:
                out += ["--exit-after-ms", str(exit_after_ms)]
            return out
        # QEMU: -serial arguments in UART order; a UART the plan does not use is connected to nothing.
        by_uart = {e.uart: e for e in self.serial}
        out += ["-serial", "mon:stdio"]
        last = max(max(by_uart, default=CONSOLE_UART), SENSOR_UART if self.sensor else CONSOLE_UART)
        for uart in range(CONSOLE_UART + 1, last + 1):
            if uart in by_uart:
                e = by_uart[uart]
                out += ["-chardev", f"socket,id=uart{uart},path={e.socket_path}", "-serial", f"chardev:uart{uart}"]
            elif uart == SENSOR_UART and self.sensor:
                out += ["-chardev", f"socket,id=uart{uart},path={self.sensor},server=on,wait=off",
                        "-serial", f"chardev:uart{uart}"]
            else:
                out += ["-serial", "null"]
        if self.nic:
            out += ["-nic", self.nic]
        return out


@dataclass(frozen=True)
class ClusterPlan:
    deployment: str
    processes: tuple[ProcessPlan, ...]
    lines: tuple[SerialLine, ...]
    udp_map: tuple[UdpMapping, ...]
    notes: tuple[str, ...] = field(default=())  # what the emulation cannot reproduce, for the user
    relays: tuple[UdpRelay, ...] = ()  # endpoints of emulated UDP networks


def qemu_base_argv(machine: str, elf: str) -> tuple[str, ...]:
    return ("qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
            "-semihosting-config", "enable=on,target=native", "-kernel", elf)


def _udp_endpoints(nodes: list[NodeImage]) -> list[tuple[str, str, str, int]]:
    """(network, node, address, port) of every UDP endpoint, in a stable order."""
    return sorted((e.network, n.name, e.address, e.port) for n in nodes for e in n.doc.endpoints if e.kind == "udp")


def _same_subnet(a: str, b: str) -> bool:
    try:
        return ipaddress.IPv4Address(b) in ipaddress.IPv4Network(f"{a}/24", strict=False)
    except ValueError:
        return False


def _slirp_hosts(nodes: list[NodeImage]) -> tuple[dict[tuple[str, str], str], list[str]]:
    """For each UDP network an MCU node is on, the hosted peer QEMU presents as the guest's host
    (the only address a user-networking guest reaches on this machine): (network, mcu node) -> address.
    That peer is mapped to 127.0.0.1, where QEMU delivers what the guest sends to its host address."""
    kinds = {n.name: n.kind for n in nodes}
    chosen: dict[tuple[str, str], str] = {}
    notes: list[str] = []
    eps = _udp_endpoints(nodes)
    for net, node, addr, _ in eps:
        if kinds[node] != "mcu":
            continue
        peers = [(pn, pa) for pnet, pn, pa, _ in eps
                 if pnet == net and kinds[pn] == "hosted" and _same_subnet(addr, pa)]
        if peers:
            chosen[(net, node)] = peers[0][1]
        others = [pn for pnet, pn, _, _ in eps if pnet == net and pn != node and pn not in [p[0] for p in peers[:1]]]
        if others:
            notes.append(f"node '{node}' (QEMU user networking) reaches only "
                         f"{peers[0][0] if peers else 'no node'} on '{net}', not {', '.join(sorted(others))}")
    return chosen, notes


def address_map(nodes: list[NodeImage], console_ports: list[int] | None = None,
                subnet: str = LOOPBACK_SUBNETS[0]) -> tuple[list[UdpMapping], list[str]]:
    """Every UDP endpoint on its own loopback address (same port), so that any number of nodes
    can use the same port on one machine. The console network (the operator's console, node 0,
    and one endpoint per hosted node) goes to `console_ports` on 127.0.0.1, ports the runner
    found free, so that clusters running side by side do not share a console; without them, to
    the plan's ports."""
    hosts, notes = _slirp_hosts(nodes)
    gateway = {(net, addr) for (net, _), addr in hosts.items()}
    out: list[UdpMapping] = []
    console = [(CONSOLE_NETWORK, CONSOLE_NODE, CONSOLE_ADDRESS, CONSOLE_PORT)]
    console += [e for e in _udp_endpoints(nodes) if e[0] == CONSOLE_NETWORK]
    if console_ports is not None and len(console_ports) < len(console):
        raise ClusterPlanError(f"{len(console)} console ports needed, {len(console_ports)} given")
    for i, (net, node, addr, port) in enumerate(console if len(console) > 1 else []):
        out.append(UdpMapping(net, node, addr, port, SLIRP_LOOPBACK, console_ports[i] if console_ports else port))
    k = 0
    for net, node, addr, port in _udp_endpoints(nodes):
        if net == CONSOLE_NETWORK:
            continue
        if (net, addr) in gateway:
            out.append(UdpMapping(net, node, addr, port, SLIRP_LOOPBACK, port))
            continue
        k += 1
        if k > 254:
            raise ClusterPlanError(f"more than 254 UDP endpoints: no room in {subnet}.0/24")
        out.append(UdpMapping(net, node, addr, port, f"{subnet}.{k}", port))
    taken: dict[tuple[str, int], UdpMapping] = {}
    for m in out:
        clash = taken.get((m.host, m.host_port))
        if clash is not None and (clash.address, clash.port) != (m.address, m.port):
            raise ClusterPlanError(f"{m.host}:{m.host_port} would serve both {clash.node} ({clash.network}) and "
                                   f"{m.node} ({m.network}): QEMU user networking reaches one host address only")
        taken[(m.host, m.host_port)] = m
    return out, notes


def _nic(node: NodeImage, maps: list[UdpMapping], hosts: Mapping[tuple[str, str], str]) -> tuple[str, list[str]]:
    mine = [m for m in maps if m.node == node.name]
    if not mine:
        return "", []
    notes = []
    if len(mine) > 1:
        notes.append(f"node '{node.name}' has one Ethernet: only its '{mine[0].network}' endpoint is emulated")
    m = mine[0]
    parts = ["user", "model=lan9118"]
    try:
        subnet = ipaddress.IPv4Network(f"{m.address}/24", strict=False)
        parts += [f"net={subnet}", f"dhcpstart={m.address}"]
        if (m.network, node.name) in hosts:
            parts.append(f"host={hosts[(m.network, node.name)]}")
        guest = m.address
    except ValueError:  # a name, not an address: the guest keeps QEMU's default network
        guest = ""
    parts.append(f"hostfwd=udp:{m.host}:{m.host_port}-{guest}:{m.port}")
    return ",".join(parts), notes


def serial_lines(nodes: list[NodeImage], socket_dir: str) -> list[SerialLine]:
    members: dict[str, list[LineEnd]] = {}
    for n in sorted(nodes, key=lambda n: n.name):
        for e in n.doc.endpoints:
            if e.kind != "serial":
                continue
            if n.kind == "mcu":
                if e.port == CONSOLE_UART:
                    raise ClusterPlanError(f"node '{n.name}': serial network '{e.network}' on UART0, the console")
                end = LineEnd(e.network, n.name, "socket", e.port, os.path.join(socket_dir, f"{e.network}.{n.name}"))
            else:
                end = LineEnd(e.network, n.name, "pty", e.port)
            members.setdefault(e.network, []).append(end)
    return [SerialLine(net, tuple(ends)) for net, ends in sorted(members.items())]


def needs(doc: NodeDocument) -> tuple[str, ...]:
    """The nodes a node's calls go to or through (its RPC routes), which should be up before it
    starts: a first call lost to a peer still starting is lost for good when it is not
    idempotent."""
    out = {h.dst for i in doc.instances for d in i.dependencies if d.path == "rpc" for h in d.route}
    out |= {d.target_node for i in doc.instances for d in i.dependencies if d.path == "rpc" and d.target_node}
    out.discard(doc.node.name)
    return tuple(sorted(out))


def start_order(procs: list[ProcessPlan]) -> list[ProcessPlan]:
    """Callees before callers (a node after everything in its `after`); a cycle is started in
    name order and its `after` within the cycle dropped, so nothing waits for a node started later."""
    by_name = {p.node: p for p in procs}
    done: list[ProcessPlan] = []
    placed: set[str] = set()
    pending = sorted(procs, key=lambda p: p.node)
    while pending:
        ready = [p for p in pending if all(a in placed or a not in by_name for a in p.after)]
        if not ready:  # a cycle: start the first by name, waiting only for what already started
            p = pending[0]
            ready = [replace(p, after=tuple(a for a in p.after if a in placed))]
            pending = pending[1:]
        else:
            pending = [p for p in pending if p not in ready]
        for p in ready:
            done.append(p)
            placed.add(p.node)
    return done


def bound_addresses(plan: ClusterPlan) -> list[tuple[str, int]]:
    """The loopback addresses the cluster's processes bind in its subnets (not the console's
    free ports, not 127.0.0.1 where QEMU user networking delivers): what must be free."""
    out = {(m.host, m.host_port) for m in plan.udp_map if m.network != CONSOLE_NETWORK and m.host != SLIRP_LOOPBACK}
    out |= {r.private for r in plan.relays}
    return sorted(out)


def console_endpoints(nodes: list[NodeImage]) -> int:
    """How many console ports `cluster_plan` maps: the console's and one per hosted node."""
    return 1 + sum(1 for n in nodes for e in n.doc.endpoints if e.network == CONSOLE_NETWORK)


def sensor_socket(socket_dir: str, node: str) -> str:
    """Where an MCU node's sensor input listens (the PIR stand-in of services/motion)."""
    return os.path.join(socket_dir, f"sensor.{node}")


def preload_argv(preloads: Mapping[str, tuple[tuple[str, int], ...]], node: str) -> tuple[str, ...]:
    """QEMU's loader for each file the node's memory holds at boot (node(preload = ...))."""
    out: list[str] = []
    for path, address in preloads.get(node, ()):
        out += ["-device", f"loader,file={path},addr=0x{address:x},force-raw=on"]
    return tuple(out)


def udp_networks(nodes: list[NodeImage]) -> set[str]:
    """The UDP networks the emulator can relay: every one but the operator's console network."""
    return {net for net, _, _, _ in _udp_endpoints(nodes) if net != CONSOLE_NETWORK}


def relays(maps: list[UdpMapping], emulated: set[str], hosts: Mapping[tuple[str, str], str],
           subnet: str = LOOPBACK_SUBNETS[1]) -> list[UdpRelay]:
    """One relay per endpoint of an emulated network: it keeps the endpoint's mapped address,
    the endpoint itself moves to its own address in `subnet` (same port)."""
    out = []
    k = 0
    for m in maps:
        if m.network not in emulated:
            continue
        guests = tuple(sorted(mcu for (net, mcu), addr in hosts.items() if net == m.network and addr == m.address))
        k += 1
        out.append(UdpRelay(m.network, m.node, (m.host, m.host_port), (f"{subnet}.{k}", m.host_port), guests))
    return out


def _moved(maps: list[UdpMapping], relayed: list[UdpRelay], node: str) -> list[UdpMapping]:
    """`node`'s view of the map: its own endpoints on emulated networks where they really are."""
    private = {(r.network, r.node): r.private for r in relayed}
    out = []
    for m in maps:
        if m.node == node and (m.network, node) in private:
            host, port = private[(m.network, node)]
            m = replace(m, host=host, host_port=port)
        out.append(m)
    return out


def cluster_plan(nodes: list[NodeImage], socket_dir: str, console_ports: list[int] | None = None,
                 preloads: Mapping[str, tuple[tuple[str, int], ...]] | None = None,
                 storage_root: str | None = None, emulated_udp: set[str] | None = None,
                 subnets: tuple[str, str] = LOOPBACK_SUBNETS) -> ClusterPlan:
    """`storage_root`: where hosted nodes keep their files (node(provides = {"storage": ...})),
    one directory per node; by default inside the cluster's directory (gone with the cluster).
    `emulated_udp`: the UDP networks whose datagrams go through the link emulator. `subnets`:
    the loopback /24s of the endpoints and of the relayed endpoints (see LOOPBACK_SUBNETS)."""
    preloads = preloads or {}
    storage_root = storage_root or os.path.join(socket_dir, "storage")
    if not nodes:
        raise ClusterPlanError("the deployment has no node images")
    deployments = sorted({n.doc.deployment for n in nodes})
    if len(deployments) != 1:
        raise ClusterPlanError(f"node plans of several deployments: {', '.join(deployments)}")
    for n in nodes:
        if n.doc.node.name != n.name:
            raise ClusterPlanError(f"node '{n.name}' was given the plan of node '{n.doc.node.name}'")
        if n.kind == "mcu" and not n.machine:
            raise ClusterPlanError(f"MCU node '{n.name}' has no QEMU machine")
    maps, notes = address_map(nodes, console_ports, subnets[0])
    hosts, _ = _slirp_hosts(nodes)
    unknown = sorted((emulated_udp or set()) - udp_networks(nodes))
    if unknown:
        raise ClusterPlanError(f"no UDP network {', '.join(unknown)} to emulate")
    relayed = relays(maps, emulated_udp or set(), hosts, subnets[1])
    lines = serial_lines(nodes, socket_dir)
    ends: dict[str, list[LineEnd]] = {}
    for line in lines:
        for e in line.ends:
            ends.setdefault(e.node, []).append(e)
    procs = []
    for n in sorted(nodes, key=lambda n: n.name):
        mine = tuple(sorted(ends.get(n.name, []), key=lambda e: e.uart))
        uarts = [e.uart for e in mine]
        if n.kind == "mcu" and len(set(uarts)) != len(uarts):
            raise ClusterPlanError(f"node '{n.name}': two serial networks on one UART ({uarts})")
        if n.kind == "hosted":
            procs.append(ProcessPlan(n.name, "hosted", (n.image,), tuple(_moved(maps, relayed, n.name)), mine, "",
                                     needs(n.doc), storage_dir=os.path.join(storage_root, n.name)))
        else:
            nic, more = _nic(n, _moved(maps, relayed, n.name), hosts)
            notes += more
            sensor = "" if SENSOR_UART in uarts else sensor_socket(socket_dir, n.name)
            procs.append(ProcessPlan(n.name, "mcu", qemu_base_argv(n.machine, n.image) + preload_argv(preloads, n.name),
                                     (), mine, nic, needs(n.doc), sensor))
    return ClusterPlan(deployments[0], tuple(start_order(procs)), tuple(lines), tuple(maps), tuple(notes),
                       tuple(relayed))
