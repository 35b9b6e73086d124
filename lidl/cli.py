"""lidlc: check lidl files and generate code.

  lidlc check FILE...                      report every error (exit 1) or nothing (exit 0)
  lidlc gen --lang cpp|py|json FILE [-o OUT]
Exit codes: 0 ok, 1 user error (diagnostics printed), 2 internal error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from lidl.checker import Options, check_files
from lidl.diagnostics import LidlError
from lidl.schema import Schema


def _options(args: argparse.Namespace) -> Options:
    hint = "is the lidl_library that holds it listed in deps?" if getattr(args, "bazel", False) else ""
    return Options(search_paths=tuple(args.include or ()), strip_prefixes=tuple(args.strip_prefix or ()),
                   missing_import_hint=hint)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-I", "--include", action="append", metavar="DIR",
                   help="search directory for imports (after the importing file's directory)")
    p.add_argument("--strip-prefix", action="append", metavar="DIR",
                   help="path prefix removed from file names in generated code (e.g. a Bazel output root)")
    p.add_argument("--bazel", action="store_true", help="running inside a Bazel action (adds hints)")


def _generate(lang: str, schema: Schema, path: str, args: argparse.Namespace) -> str:
    if lang == "json":
        from lidl.gen_json import generate_json
        return generate_json(schema, path)
    if lang == "py":
        from lidl.gen_py import generate_py
        return generate_py(schema, path)
    if lang == "cpp":
        from lidl.gen_cpp import generate_cpp
        return generate_cpp(schema, path)
    raise AssertionError(lang)


def cmd_check(args: argparse.Namespace) -> int:
    schema = check_files(args.files, _options(args))
    if args.json:
        out = {"ok": True, "files": sorted(schema.files)}
        print(json.dumps(out))
    return 0


def cmd_gen(args: argparse.Namespace) -> int:
    schema = check_files([args.file], _options(args))
    text = _generate(args.lang, schema, os.path.normpath(args.file), args)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lidlc", description="The lidl interface compiler.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("check", help="check lidl files and report every error")
    pc.add_argument("files", nargs="+", metavar="FILE")
    pc.add_argument("--json", action="store_true", help="print a JSON summary on success; "
                    "diagnostics go to stderr as JSON lines on failure")
    _add_common(pc)
    pc.set_defaults(func=cmd_check)
    pg = sub.add_parser("gen", help="generate C++, Python or the JSON interface description")
    pg.add_argument("--lang", required=True, choices=["cpp", "py", "json"])
    pg.add_argument("file", metavar="FILE")
    pg.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    pg.add_argument("--json", action="store_true", help="diagnostics as JSON lines on stderr")
    _add_common(pg)
    pg.set_defaults(func=cmd_gen)
    return ap


def main(argv: list[str] | None = None) -> int:
    # Layout and plainness walk struct-containment chains recursively; give long chains room.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    args = build_parser().parse_args(argv)
    # `bazel run` executes in the runfiles tree; resolve user paths against the caller's cwd.
    wd = os.environ.get("BUILD_WORKING_DIRECTORY")
    if wd:
        os.chdir(wd)
    try:
        status: int = args.func(args)
        return status
    except LidlError as err:
        if getattr(args, "json", False):
            for d in err.diagnostics:
                sys.stderr.write(json.dumps({"file": d.loc.file, "line": d.loc.line, "col": d.loc.col,
                                             "severity": d.severity, "message": d.message}) + "\n")
        else:
            sys.stderr.write(err.render())
            n = len(err.diagnostics)
            sys.stderr.write(f"{n} error{'s' if n != 1 else ''} generated.\n")
        return 1
    except BrokenPipeError:
        return 0
    except Exception:  # noqa: BLE001 - an internal error must still exit 2 with a useful message
        sys.stderr.write("lidlc: internal error (please report):\n" + traceback.format_exc())
        return 2


if __name__ == "__main__":
    sys.exit(main())
