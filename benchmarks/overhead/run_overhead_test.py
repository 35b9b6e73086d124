"""The overhead benchmark runner: tables, RESULT lines and the plot from rows; a clean error
without the binaries; and a --quick run of the real implementations (no timing is checked: the
machine is shared; every request must be answered and every ratio finite)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import run_overhead as runner

RESULT = re.compile(r"^RESULT (\S+) value=([-0-9.e+]+) unit=ratio( baseline=[-0-9.e+]+ ratio=[-0-9.e+]+)?$")


def sample_rows() -> list[runner.Row]:
    rows = []
    for regime, xs in [("compute", [0.1, 1.0]), ("io", [16384, 230400]), ("concurrency", [1, 16])]:
        for k, x in enumerate(xs):
            for impl, ratio in [("ambience_same_group", 0.01), ("ambience_cross_group", 0.2 + k), ("pipes", 0.5)]:
                cpu_ratio = ratio / 2
                cpu_us = 250 * (1 + cpu_ratio)
                rows.append(runner.Row(regime, x, impl, 250 * (1 + ratio), 250, ratio, 250, cpu_us, cpu_ratio))
    return rows


def test_report_gives_the_maxima_and_the_verdict(capsys) -> None:
    lines = runner.report(sample_rows(), 460000, None)
    out = capsys.readouterr().out
    assert all(RESULT.match(line) for line in lines)
    values = {RESULT.match(line).group(1): float(RESULT.match(line).group(2)) for line in lines}  # type: ignore[union-attr]
    assert values["overhead_max_ratio_ambience_cross_group"] == pytest.approx(1.2)
    assert values["overhead_compute_max_ratio_ambience_same_group"] == pytest.approx(0.01)
    assert values["overhead_max_ratio_ambience"] == pytest.approx(1.2)
    assert values["overhead_cpu_max_ratio_ambience"] == pytest.approx(0.6)
    assert "wall clock: 1.200 (target <= 0.3): NOT met" in out


def test_plot_is_a_png(tmp_path: Path) -> None:
    path = runner.plot(sample_rows(), tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_binaries_is_a_clean_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(runner, "find_binaries", lambda: None)
    assert runner.main(["--out", str(tmp_path)]) == 2
    assert "not in the runfiles" in capsys.readouterr().err


def test_quick_run_answers_every_request(tmp_path: Path, capsys) -> None:
    if runner.find_binaries() is None:
        pytest.skip("binaries not in the runfiles (run under bazel test)")
    assert runner.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    impls = ["ambience_same_group", "ambience_cross_group", "pipes", "lidl_uds"]
    if runner.find_mosquitto() is not None:
        impls.append("mqtt")
    else:
        assert "MQTT baseline SKIPPED" in out
    ids = {RESULT.match(line).group(1): float(RESULT.match(line).group(2)) for line in lines if RESULT.match(line)}  # type: ignore[union-attr]
    assert len(ids) == len(lines), "malformed RESULT line"
    for regime in ["compute", "io", "concurrency"]:
        for impl in impls:
            v = ids[f"overhead_{regime}_max_ratio_{impl}"]
            assert math.isfinite(v) and v > -1
            assert math.isfinite(ids[f"overhead_cpu_{regime}_max_ratio_{impl}"])
    assert math.isfinite(ids["overhead_max_ratio_ambience"])
    assert math.isfinite(ids["overhead_cpu_max_ratio_ambience"])
    assert (tmp_path / "overhead.png").is_file() and (tmp_path / "results.json").is_file()
