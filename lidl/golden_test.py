"""Golden tests: generated C++, Python and JSON for the test schemas are pinned in lidl/golden/.

Update after a reviewed generator change with:
    PYTHONPATH=. python3 lidl/golden_test.py --update
The test also checks that generation is deterministic (two runs give identical text).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lidl.checker import check_files
from lidl.gen_cpp import generate_cpp
from lidl.gen_json import generate_json
from lidl.gen_py import generate_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden"
SOURCES = ["lidl/testdata/frames.lidl", "lidl/testdata/everything.lidl", "lidl/testdata/base.lidl"]
GENERATORS = {".lidl.hpp": generate_cpp, "_lidl.py": generate_py, ".lidl.json": generate_json}


def _generate() -> dict[str, str]:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        schema = check_files(SOURCES)
        out = {}
        for src in SOURCES:
            stem = Path(src).name[: -len(".lidl")]
            for suffix, gen in GENERATORS.items():
                out[stem + suffix + ".golden"] = gen(schema, src)
        return out
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("name", sorted(_generate()))
def test_golden(name):
    generated = _generate()[name]
    assert generated == _generate()[name], "generator output is not deterministic"
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    assert generated == expected, f"{name} changed; review and run: python3 lidl/golden_test.py --update"


if __name__ == "__main__":
    if "--update" in sys.argv:
        GOLDEN.mkdir(exist_ok=True)
        for name, text in _generate().items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
        print(f"updated {len(_generate())} golden files in {GOLDEN}")
        raise SystemExit(0)
    raise SystemExit(pytest.main([__file__, "-q"]))
