"""The camera trap, end to end: starts the deployment's local cluster (both boards in QEMU, the
edge and the cloud as processes), injects N motion events through the motion board's PIR input,
and prints what became of each — scene, detection, species, confidence, stored id, and the round
trip of every hop — then a summary checked against the database, and stops the cluster.

    bazel run //deployments/camera_trap:demo -- --events 12

Each event's outcome is the line the motion sensor prints on its console (services/motion);
the database is asked over RPC through the operator's console (`ambience call`). --check makes
every expectation an exit status: each animal stored exactly once with its species, each empty
scene dropped at detection, the database's count equal to the sightings stored.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SPECIES = {0: "unknown", 1: "cat", 2: "horse", 3: "human"}
HOPS = (("motion->camera", "hop_motion_camera"), ("camera->detection", "hop_camera_detection"),
        ("detection->recognition", "hop_detection_recognition"), ("recognition->database", "database_us"))


@dataclass(frozen=True)
class Scene:
    id: int
    name: str
    animal: bool
    species: str


@dataclass
class Event:
    number: int
    scene: Scene
    node: str  # whose PIR fires
    sensor: int  # that PIR's id (1, 2, ... in --sensors order)
    sequence: int
    outcome: dict[str, int] | None = None  # the motion sensor's line, parsed

    @property
    def event_id(self) -> int:
        return (self.sensor << 48) | self.sequence

    def hop(self, key: str) -> int | None:
        o = self.outcome
        if o is None or not o.get("ok"):
            return None
        if key == "hop_motion_camera":
            return o["motion_us"] - o["camera_us"]
        if key == "hop_camera_detection":
            return o["camera_us"] - o["capture_us"] - o["detection_us"]
        if key == "hop_detection_recognition":
            return o["detection_us"] - o["detection_work_us"] - o["recognition_us"] if o["detected"] else None
        return o.get(key) if o["detected"] else None


def load_scenes(path: str) -> list[Scene]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return [Scene(int(k), v["name"], bool(v["animal"]), v["species"])
            for k, v in sorted(doc["scenes"].items(), key=lambda kv: int(kv[0]))]


def choose(scenes: list[Scene], n: int, seed: int) -> list[Scene]:
    """N scenes, animals and empty ones mixed: every scene once per round, in a seeded order."""
    rng = random.Random(seed)
    out: list[Scene] = []
    while len(out) < n:
        batch = list(scenes)
        rng.shuffle(batch)
        out += batch
    return out[:n]


def parse_outcome(line: str) -> dict[str, int] | None:
    marker = "[motion] outcome"
    at = line.find(marker)
    if at < 0:
        return None
    fields = {}
    for item in line[at + len(marker):].split():
        key, _, value = item.partition("=")
        if value.isdigit():
            fields[key] = int(value)
    return fields if "event" in fields else None


def follow(path: str, deadline: float) -> Iterator[str]:
    """Lines appended to `path` (waiting for it to exist) until the deadline."""
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    with open(path, encoding="utf-8", errors="replace") as f:
        pending = ""
        while time.monotonic() < deadline:
            chunk = f.readline()
            if not chunk:
                time.sleep(0.02)
                continue
            pending += chunk
            if pending.endswith("\n"):
                yield pending.rstrip("\n")
                pending = ""


def connect(path: str, timeout_s: float) -> socket.socket:
    deadline = time.monotonic() + timeout_s
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def query_database(root: str, procedure: str, args: dict[str, Any]) -> Any:
    """A SightingLog procedure of the cloud's database, through the operator's console (what
    `ambience call cloud/database.<procedure> '<args>'` does)."""
    from ambience.console.call import call  # noqa: PLC0415 (the CLI's console, imported when used)
    return call(f"cloud/database.{procedure}", json.dumps(args), root, "camera_trap")


def ms(us: int | None) -> str:
    return "-" if us is None else f"{us / 1000:.1f}"


def table(events: list[Event]) -> list[str]:
    head = (f"{'event':>5}  {'PIR of':<7} {'scene':<18} {'detected':<8} {'species':<8} {'conf':>5} {'stored':>6}  "
            + "  ".join(f"{h:>22}" for h, _ in HOPS) + f"  {'total':>7}")
    out = [head, "-" * len(head)]
    for e in events:
        o = e.outcome
        if o is None:
            out.append(f"{e.number:>5}  {e.node:<7} {e.scene.name:<18} no outcome within the timeout")
            continue
        failed = "" if o.get("ok") else f"  FAILED at stage {o.get('failed', '?')}"
        detected = "yes" if o["detected"] else "no"
        species = SPECIES.get(o["species"], "?") if o["detected"] else "-"
        conf = f"{o['confidence_milli'] / 1000:.2f}" if o["detected"] else "-"
        stored = str(o["stored"]) if o["stored"] else "-"
        out.append(f"{e.number:>5}  {e.node:<7} {e.scene.name:<18} {detected:<8} {species:<8} {conf:>5} {stored:>6}  "
                   + "  ".join(f"{ms(e.hop(k)) + ' ms':>22}" for _, k in HOPS)
                   + f"  {ms(o['motion_us']) + ' ms':>7}{failed}")
    return out


def verdicts(events: list[Event], db_count: int | None) -> list[str]:
    """What does not hold of the run (empty when everything does)."""
    bad = []
    ids: dict[int, int] = {}
    for e in events:
        o = e.outcome
        if o is None or not o.get("ok"):
            bad.append(f"event {e.number} ({e.scene.name}): no complete outcome")
            continue
        if e.scene.animal:
            if not o["detected"]:
                bad.append(f"event {e.number} ({e.scene.name}): the {e.scene.species} was not detected")
            elif SPECIES.get(o["species"]) != e.scene.species:
                bad.append(f"event {e.number} ({e.scene.name}): recognised as {SPECIES.get(o['species'])}, "
                           f"not {e.scene.species}")
            if not o["stored"]:
                bad.append(f"event {e.number} ({e.scene.name}): not stored")
            elif o["stored"] in ids:
                bad.append(f"event {e.number}: stored id {o['stored']} also given to event {ids[o['stored']]}")
            else:
                ids[o["stored"]] = e.number
        elif o["detected"] or o["stored"]:
            bad.append(f"event {e.number} ({e.scene.name}): an empty scene was not dropped at detection")
    stored = sum(1 for e in events if e.outcome and e.outcome.get("stored"))
    if db_count is not None and db_count != stored:
        bad.append(f"the database holds {db_count} sightings, the outcomes say {stored} were stored")
    return bad


def run(args: argparse.Namespace) -> int:
    scenes = load_scenes(args.scenes)
    root = tempfile.mkdtemp(prefix="ambience-demo-")
    # The cluster script finds its runner through RUNFILES_DIR: ours (bazel run and bazel test
    # start us in <runfiles>/ambience).
    env = dict(os.environ, AMBIENCE_CLUSTER_DIR=root)
    env.setdefault("RUNFILES_DIR", os.path.dirname(os.getcwd()))
    cdir = os.path.join(root, "camera_trap")
    started = time.monotonic()
    print(f"demo: starting the camera trap's cluster ({args.cluster})", flush=True)
    up = subprocess.run([args.cluster, "--detach"], env=env, text=True, capture_output=True)
    sys.stdout.write(up.stdout)
    if up.returncode != 0:
        sys.stderr.write(up.stderr)
        shutil.rmtree(root, ignore_errors=True)
        return 1
    try:
        with open(os.path.join(cdir, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        print(f"demo: cluster up in {time.monotonic() - started:.1f} s; injecting {args.events} motion events",
              flush=True)
        events = inject(args, scenes, state.get("sensors", {}), os.path.join(cdir, "logs"))
        db_count = None
        try:
            db_count = int(query_database(root, "count", {}))
        except Exception as e:  # the summary says what could not be asked, and --check fails
            print(f"demo: the database could not be queried: {e}")
        print()
        print("\n".join(table(events)))
        print()
        stored = sum(1 for e in events if e.outcome and e.outcome.get("stored"))
        dropped = sum(1 for e in events if e.outcome and e.outcome.get("ok") and not e.outcome["detected"])
        errors = sum(1 for e in events if not (e.outcome and e.outcome.get("ok")))
        print(f"summary: {len(events)} events in, {stored} sightings stored, {dropped} dropped as empty, "
              f"{errors} errors; the database holds {db_count if db_count is not None else '?'} sightings")
        print("hops: each column is that call's round trip (caller's time minus the callee's, each "
              "measured on its own node's clock); recognition->database includes the durable commit")
        bad = verdicts(events, db_count)
        for b in bad:
            print(f"check: {b}")
        print(f"demo: {len(events)} events in {time.monotonic() - started:.1f} s "
              f"({'all checks hold' if not bad else f'{len(bad)} checks failed'})")
        return 1 if (bad and args.check) or db_count is None and args.check else 0
    finally:
        if not args.keep:
            from ambience.cluster.runner import down  # noqa: PLC0415
            for line in down(root, "camera_trap"):
                print(f"demo: {line}")
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"demo: the cluster stays up (AMBIENCE_CLUSTER_DIR={root})")


def watching(sensors: dict[str, str], logs: str) -> list[str]:
    """Nodes with a sensor input whose motion sensor said it watches it (by name)."""
    out = []
    for node in sorted(sensors):
        with contextlib.suppress(OSError), open(os.path.join(logs, f"{node}.log"), encoding="utf-8") as f:
            if "[motion] watching the PIR input" in f.read():
                out.append(node)
    return out


def inject(args: argparse.Namespace, scenes: list[Scene], sensors: dict[str, str], logs: str) -> list[Event]:
    """One event at a time, each on the next PIR of --sensors: its record written to that board's
    sensor input, its outcome read from the line its motion sensor prints."""
    nodes = args.sensors or watching(sensors, logs)
    if not nodes:
        raise SystemExit("demo: no node of the cluster watches a PIR input")
    missing = [n for n in nodes if n not in sensors]
    if missing:
        raise SystemExit(f"demo: no sensor input on node(s) {', '.join(missing)} (the cluster has: "
                         f"{', '.join(sorted(sensors)) or 'none'})")
    base = (args.seed or 0) << 20 | random.Random().getrandbits(20)
    chosen = choose(scenes, args.events, args.seed or 0)
    events = [Event(i + 1, sc, nodes[i % len(nodes)], i % len(nodes) + 1, base + i + 1) for i, sc in enumerate(chosen)]
    end = time.monotonic() + args.timeout_s * max(1, len(events)) + 30
    lines = {n: follow(os.path.join(logs, f"{n}.log"), end) for n in nodes}
    pirs = {n: connect(sensors[n], 10.0) for n in nodes}
    try:
        for e in events:
            pirs[e.node].sendall(f"{e.sensor} {e.sequence} {e.scene.id}\n".encode())
            deadline = time.monotonic() + args.timeout_s
            for line in lines[e.node]:
                o = parse_outcome(line)
                if o is not None and o["event"] == e.event_id:
                    e.outcome = o
                    break
                if time.monotonic() > deadline:
                    break
            mark = "ok" if e.outcome and e.outcome.get("ok") else "no outcome" if e.outcome is None else "failed"
            print(f"demo: event {e.number:>3} scene {e.scene.name:<18} PIR of {e.node:<7} {mark}", flush=True)
    finally:
        for p in pirs.values():
            p.close()
    return events


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=12, help="motion events to inject (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="which scenes, in which order (default %(default)s)")
    ap.add_argument("--timeout-s", type=float, default=30.0, help="wait for each outcome (default %(default)s)")
    ap.add_argument("--sensors", default=[], type=lambda v: [n for n in v.split(",") if n],
                    help="nodes whose PIR fires, in turn (default: every node whose motion sensor watches one)")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every expectation holds")
    ap.add_argument("--keep", action="store_true", help="leave the cluster running")
    # Set by the build (camera_trap_demo in demo.bzl): the deployment's cluster and scene index.
    ap.add_argument("--cluster", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--scenes", required=True, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.cluster, args.scenes = os.path.abspath(args.cluster), os.path.abspath(args.scenes)
    if args.events < 1:
        ap.error("--events must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
