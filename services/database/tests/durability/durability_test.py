"""The sighting log survives kill -9 of its whole node: the cloud node (supervisor with the
storage, the database and a writer in sandboxed group processes) is killed mid-stream twice and
started again on the same --storage-dir. Every append acknowledged before a kill is there after
it, under the same id, exactly once; the database opens cleanly (its integrity check passes) and
the files are a sound SQLite database for the stock engine too.

Injected storage faults (--storage-fault): a full disk answers storage_full, a failing fsync
storage_failed, through the whole hosted path; nothing refused is acknowledged, and after the
fault everything acknowledged is still there."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

NODE = "services/database/tests/durability/cloud"
EVENTS = 300  # WriterService::kEvents
OPENED = re.compile(r"database: sightings\.db open \(WAL, synchronous=FULL, integrity ok\): (\d+) sightings")
ACKED = re.compile(r"\[writer\] acked (\d+) -> (\d+)")


FAILED = re.compile(r"\[writer\] append (\d+) failed: (\S+)")


def run_node(storage_dir: str, kill_after_acks: int | None, timeout_s: float = 120, *flags: str) -> str:
    """Runs the node until `kill_after_acks` acknowledgements were printed (then SIGKILL), or until
    the writer is done; returns everything it printed."""
    node = subprocess.Popen([NODE, "--storage-dir", storage_dir, *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    acks = 0
    deadline = time.monotonic() + timeout_s
    try:
        assert node.stdout is not None
        for line in node.stdout:
            lines.append(line.rstrip("\n"))
            if ACKED.search(line):
                acks += 1
            if kill_after_acks is not None and acks >= kill_after_acks:
                node.send_signal(signal.SIGKILL)
                break
            if "[writer] done" in line or time.monotonic() > deadline:
                break
    finally:
        if node.poll() is None:
            node.send_signal(signal.SIGKILL)
        rest, _ = node.communicate(timeout=30)  # what was printed before the kill landed
        lines.extend(rest.splitlines())
        # The group processes die with the supervisor (PR_SET_PDEATHSIG); the session must be empty.
        try:
            os.killpg(node.pid, 0)
            time.sleep(0.5)
            os.killpg(node.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return "\n".join(lines)


def acks_of(text: str) -> dict[int, int]:
    acks: dict[int, int] = {}
    for e, i in ACKED.findall(text):
        acks[int(e)] = int(i)
    return acks


def storage_dir(name: str) -> str:
    return os.path.join(os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(), name)


class DurabilityTest(unittest.TestCase):
    def test_kill_9_mid_stream_loses_and_duplicates_nothing(self) -> None:
        storage = storage_dir("cloud")
        runs = [run_node(storage, 60), run_node(storage, 120), run_node(storage, None)]
        last = runs[-1]
        self.assertIn("[writer] done", last, last)
        for n, text in enumerate(runs):
            opened = OPENED.search(text)
            self.assertIsNotNone(opened, f"run {n}: the database did not open cleanly:\n{text}")
            assert opened is not None
            before = acks_of(runs[n - 1]) if n > 0 else {}
            # Everything acknowledged before the kill was found at the restart (more may be: an
            # append that was committed while the kill came, before its answer was printed).
            self.assertGreaterEqual(int(opened.group(1)), len(before), f"run {n} lost appends:\n{text}")
            acks = acks_of(text)
            for event, id_ in acks.items():
                # Appended in event order, each once: event e has id e, in every run.
                self.assertEqual(id_, event, f"run {n}: event {event} got id {id_}:\n{text}")
            for event, id_ in before.items():
                self.assertEqual(acks.get(event), id_, f"run {n}: event {event} acknowledged before the kill "
                                                       f"as {id_}, now {acks.get(event)}:\n{text}")
        self.assertGreaterEqual(len(acks_of(runs[0])), 60)
        self.assertLess(len(acks_of(runs[0])), EVENTS, "the first kill came after the stream ended")
        self.assertEqual(sorted(acks_of(last)), list(range(1, EVENTS + 1)), last)
        self.assertIn(f"[writer] verify: {EVENTS} stored, {EVENTS} distinct, 0 mismatched, 0 gaps, count {EVENTS}, "
                      f"cats {EVENTS // 4}", last)

        # The files on their own, through the stock SQLite engine (the node is gone).
        db = sqlite3.connect(os.path.join(storage, "sightings.db"))
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            rows = db.execute("SELECT count(*), count(DISTINCT event_id), min(id), max(id) FROM sightings").fetchone()
            self.assertEqual(rows, (EVENTS, EVENTS, 1, EVENTS))
        finally:
            db.close()

    def check_fault_then_recovery(self, name: str, fault: str, error: str) -> tuple[dict[int, int], list[int]]:
        """Runs the stream under an injected storage fault, then again without it."""
        storage = storage_dir(name)
        faulty = run_node(storage, None, 120, "--storage-fault", fault)
        self.assertIn("[writer] done", faulty, faulty)
        acked = acks_of(faulty)
        failed = [int(e) for e, _ in FAILED.findall(faulty)]
        self.assertTrue(acked and failed, f"want acknowledgements, then failures:\n{faulty}")
        self.assertEqual({why for _, why in FAILED.findall(faulty)}, {error}, faulty)
        self.assertEqual(sorted(list(acked) + failed), list(range(1, EVENTS + 1)), faulty)
        self.assertTrue(all(id_ == e for e, id_ in acked.items()), faulty)
        fixed = run_node(storage, None)
        opened = OPENED.search(fixed)
        self.assertIsNotNone(opened, fixed)
        assert opened is not None
        self.assertGreaterEqual(int(opened.group(1)), len(acked), fixed)
        again = acks_of(fixed)
        self.assertEqual(sorted(again), list(range(1, EVENTS + 1)), fixed)
        for e, id_ in acked.items():
            self.assertEqual(again[e], id_, fixed)
        self.assertIn(f"[writer] verify: {EVENTS} stored, {EVENTS} distinct, 0 mismatched, 0 gaps", fixed)
        return acked, failed

    def test_a_full_disk_refuses_appends_with_storage_full_and_loses_nothing(self) -> None:
        acked, failed = self.check_fault_then_recovery("full", "no-space-after:300000", "storage_full")
        self.assertLess(max(acked), min(failed))  # a full disk stays full: no acknowledgement after

    def test_a_failing_fsync_is_never_acknowledged(self) -> None:
        acked, _ = self.check_fault_then_recovery("fsync", "sync-error-after:40", "storage_failed")
        self.assertLessEqual(len(acked), 40)  # one sync per acknowledged append at least

    def test_a_killed_database_group_is_restarted_and_reopens_cleanly(self) -> None:
        """Only the database's group process dies (SIGKILL); the supervisor restarts it and the
        new process opens the files the storage kept, as after a crash."""
        storage = storage_dir("group")
        node = subprocess.Popen([NODE, "--storage-dir", storage], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        lines: list[str] = []
        killed = False
        try:
            assert node.stdout is not None
            deadline = time.monotonic() + 120
            for line in node.stdout:
                lines.append(line.rstrip("\n"))
                if not killed and ACKED.search(line) and len(acks_of("\n".join(lines))) >= 60:
                    os.kill(group_pid(node.pid, "database"), signal.SIGKILL)
                    killed = True
                if "[writer] done" in line or time.monotonic() > deadline:
                    break
        finally:
            node.send_signal(signal.SIGKILL)
            rest, _ = node.communicate(timeout=30)
            lines.extend(rest.splitlines())
        text = "\n".join(lines)
        self.assertIn("group 'database'", text)
        self.assertIn("restarting", text)
        opens = [int(n) for n in OPENED.findall(text)]
        self.assertEqual(len(opens), 2, text)
        self.assertGreaterEqual(opens[1], 60, text)  # what was acknowledged before the kill is there
        m = re.search(r"\[writer\] verify: (\d+) stored, (\d+) distinct, 0 mismatched, 0 gaps", text)
        self.assertIsNotNone(m, text)
        assert m is not None
        self.assertEqual(m.group(1), m.group(2), text)
        db = sqlite3.connect(os.path.join(storage, "sightings.db"))
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            rows = dict(db.execute("SELECT id, event_id FROM sightings").fetchall())
        finally:
            db.close()
        for e, id_ in acks_of(text).items():
            self.assertEqual(rows.get(id_), (1 << 48) | e, f"acknowledged event {e} (id {id_}) is not stored")


def group_pid(supervisor: int, group: str) -> int:
    """The pid of the supervisor's child process running `group` (from /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        flag = b"--ambience-group"
        if ppid == supervisor and flag in args and args[args.index(flag) + 1] == group.encode():
            return int(entry)
    raise AssertionError(f"no process of group '{group}' under pid {supervisor}")


if __name__ == "__main__":
    unittest.main()
