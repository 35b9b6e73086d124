"""The cluster runner: prefixes output per node, reports nodes that fail, rejects bad specs."""
from __future__ import annotations

import stat

from ambience.cluster import main


def script(tmp_path, name, body):
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return str(p)


def test_output_is_prefixed_and_status_collected(tmp_path, capsys):
    ok = script(tmp_path, "ok", 'echo "hello from $1 $2"')
    bad = script(tmp_path, "bad", "echo dying; exit 3")
    assert main(["--duration", "0.2", "--hosted", f"alpha={ok}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "cluster: 1 node(s) running: alpha (process)" in out
    assert "[alpha] hello from --exit-after-ms 200" in out
    assert main(["--hosted", f"alpha={ok}", "--hosted", f"b={bad}"]) == 1
    cap = capsys.readouterr()
    assert "[b    ] dying" in cap.out and "cluster: node 'b' ended with status 3" in cap.err


def test_bad_specs(tmp_path, capsys):
    assert main(["--hosted", "justaname"]) == 1
    assert main([]) == 1
    assert main(["--hosted", f"x={tmp_path}/missing"]) == 1
    assert "not found" in capsys.readouterr().err
