"""Following a child process's output: the cluster's nodes and doors alike."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import IO


def follow_output(stream: IO[bytes], seen: Callable[[str], None], lock: threading.Lock, out: IO[str] | None,
                  prefix: str, log_path: str | None) -> None:
    """Reads a child's output to its end: each line to `seen` (under `lock`), to `out` with
    `prefix`, and to the log file at `log_path`."""
    log = open(log_path, "w", encoding="utf-8") if log_path else None
    try:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with lock:
                seen(line)
                if out is not None:
                    out.write(prefix + line + "\n")
                    out.flush()
            if log is not None:
                log.write(line + "\n")
                log.flush()
    finally:
        if log is not None:
            log.close()
