"""The IPC benchmark runner: plots from a results file, and a clean error without the binary."""

from __future__ import annotations

import json
from pathlib import Path

import run_ipc_bench as runner


def sample_rows() -> list[dict]:
    rows = []
    for strategy, base in [("static", 5.0), ("dynamic", 5.5), ("user", 7.0), ("linux", 9.0)]:
        for payload in ["uniform 4 B", "span 1 MiB aligned"]:
            rows.append(dict(section="args", strategy=strategy, payload=payload, placement="unpinned", value=base, unit="us"))
    for placement in ["unpinned", "same", "split"]:
        for strategy in ["ring", "pipes"]:
            for k in [1, 2, 4]:
                rows.append(dict(section="throughput", strategy=strategy, payload=str(k), placement=placement, value=1e5 * k, unit="calls/s"))
    return rows


def test_plots_are_written(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(sample_rows()))
    written = runner.plot(runner.load_rows(results), tmp_path)
    assert [p.name for p in written] == ["ipc_args.png", "ipc_throughput.png"]
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_binary_is_a_clean_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(runner, "find_binary", lambda: None)
    assert runner.main(["--out", str(tmp_path)]) == 2
    assert "ipc_bench_opt not found" in capsys.readouterr().err
