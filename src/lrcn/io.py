"""Atomic writes: a file appears complete under its name, or not at all.

Every writer of lrcn writes to a temporary name in the same folder, flushes
it to disk, then renames it over the final name (atomic on POSIX). A job
killed at any moment leaves at worst a stray ``*.tmp-*`` file, never a
half-written file under a real name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterator

from .errors import LrcnError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary name keeps the final extension (``clip.tmp-ab12.avi``) so
    that writers choosing a format by extension still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield str(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise LrcnError(f"{path}: no space left on device; nothing was overwritten") from None
        raise
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and flush it. A torn last line is ignored by readers."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete ``*.tmp-*`` leftovers of killed writers below ``folder``; returns how many."""
    count = 0
    for tmp in Path(folder).rglob("*.tmp-*"):
        if tmp.is_file():
            _remove(tmp)
            count += 1
    return count
