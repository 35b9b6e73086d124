"""Moving an instance between groups or nodes changes only the manifest.

The three hello deployments (base: two groups; one_group; on_board) differ from each other in
exactly one BUILD line and use the same service targets; the planner gives the greeter's `out`
dependency a different call path in each, the generated node code binds a different client, and
every image builds (they are data of this test) and runs.
"""
from __future__ import annotations

import json
import subprocess
import tarfile
import unittest

from tests.harness.node_processes import Watched, run_until_printed

VARIANTS = {"": "ipc", "one_group": "direct", "on_board": "rpc"}


def pkg(variant: str) -> str:
    return "deployments/hello" + (f"/{variant}" if variant else "")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class PlacementTest(unittest.TestCase):
    def test_manifests_differ_in_one_line(self):
        base = read("deployments/hello/BUILD.bazel").splitlines()
        for variant in ("one_group", "on_board"):
            other = read(f"{pkg(variant)}/BUILD.bazel").splitlines()
            self.assertEqual(len(base), len(other), variant)
            changed = [i for i, (a, b) in enumerate(zip(base, other)) if a != b]
            self.assertEqual(len(changed), 1, f"{variant}: lines {changed} differ")

    def test_same_services_everywhere(self):
        labels = set()
        for variant in VARIANTS:
            desc = json.loads(read(f"{pkg(variant)}/hello.description.json"))
            labels.add(tuple(sorted(d["service"] for d in desc["declarations"] if d["decl"] == "instance")))
        self.assertEqual(labels, {("//deployments/hello/services:console", "//deployments/hello/services:greeter")})

    def test_call_path_follows_the_manifest(self):
        for variant, path in VARIANTS.items():
            node = "board" if variant == "on_board" else "host"
            plan = json.loads(read(f"{pkg(variant)}/hello/{node}.plan.json"))
            greeter = next(i for i in plan["instances"] if i["name"] == "greeter")
            self.assertEqual([(d["dependency"], d["path"]) for d in greeter["dependencies"]], [("out", path)], variant)
            main = read(f"{pkg(variant)}/hello/{node}_main.cc")
            client = {"direct": "i_greeter.emplace(i_console.get());",
                      "ipc": "i_greeter.emplace(d_greeter__out_client.get());",
                      "rpc": "i_greeter.emplace(d_greeter__out_client.get());"}[path]
            self.assertIn(client, main, variant)
            # on the board the greeter's group is unprivileged: its RPC client talks over its ring
            # to the kernel's relay, which sends the same message over the route
            kinds = {"direct": [], "ipc": ["ConsoleZeroCopyClient<rt::GroupSharing<::hello::Console>>",
                             "&rt::relay_sharing"],
                     "rpc": ["ConsoleRpcClient<rt::RingTransport>",
                             'constexpr rt::Route d_greeter__out_route{"uart", "serial", "1", 1, "host", 1, 1, 0x0ull};',
                             "rt::KernelRingServer d_greeter__out_relay{&rt::relay_over_route, &d_greeter__out_relay_transport};",
                             # ring id 0 is the greeter itself, served to the operator's console
                             "supervisor.bind_kernel_instance(1, d_greeter__out_relay.binding());"]}[path]
            for kind in kinds:
                self.assertIn(kind, main, variant)

    def test_hosted_images_run(self):
        expect_greeting = {"": True, "one_group": True, "on_board": False}
        for variant, greets in expect_greeting.items():
            # every non-kernel group of a hosted node is a process under the supervisor
            processes = {"": 2, "one_group": 1, "on_board": 1}[variant]
            started = f", {processes} group process{'es' if processes > 1 else ''} started"
            greeted = '[greeter] greet("world") -> "hello, world!"'
            # Where the greeter is on this node, wait for its greeting; where it is not (on the
            # board), the node runs 2 s after its start line and must not greet.
            if greets:
                out, ran = run_until_printed([f"{pkg(variant)}/host"], started, greeted)
                self.assertTrue(ran, out)
            else:
                host = Watched([f"{pkg(variant)}/host"])
                try:
                    self.assertTrue(host.wait_for(started), host.output)
                    host.wait_for(greeted, timeout_s=2)
                    self.assertIsNone(host.proc.poll(), host.output)
                finally:
                    out = host.stop()
                self.assertNotIn(greeted, out)

    def test_hosted_bundle(self):
        with tarfile.open("deployments/hello/host_bundle.tar") as t:
            members = {m.name: m for m in t.getmembers()}
            self.assertEqual(sorted(members), ["host", "host/bin", "host/bin/host", "host/doors.json", "host/plan.json",
                                               "host/run"])
            self.assertTrue(all(m.mtime == 0 and m.uid == 0 for m in members.values()))
            plan = json.loads(t.extractfile("host/plan.json").read())
            self.assertEqual(plan["node"]["name"], "host")
            self.assertEqual([g["name"] for g in plan["groups"]], ["kernel", "console", "greeter"])
            self.assertEqual(json.loads(t.extractfile("host/doors.json").read())["doors"], [])  # no export

    def test_mcu_image_places_the_group_in_its_region(self):
        plan = json.loads(read("deployments/hello/on_board/hello/board.plan.json"))
        region = plan["memory"]["layout"]["regions"][0]
        self.assertEqual(region["group"], "greeter")
        nm = subprocess.run(["arm-none-eabi-nm", "deployments/hello/on_board/board.elf"], stdout=subprocess.PIPE,
                            text=True, check=True).stdout
        syms = {line.split()[-1]: int(line.split()[0], 16) for line in nm.splitlines() if len(line.split()) == 3}
        start = syms["__ambience_group_greeter_start"]
        end = syms["__ambience_group_greeter_end"]
        self.assertEqual(start, region["base"])
        self.assertLessEqual(end - start, region["size"])
        greeter = next(v for k, v in syms.items() if "i_greeter" in k)
        self.assertTrue(start <= greeter < end)


if __name__ == "__main__":
    unittest.main()
