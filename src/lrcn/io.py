"""Atomic writes: a file appears complete under its name, or not at all.

Every writer of lrcn writes to a temporary name in the same folder, flushes
it to disk, then renames it over the final name (atomic on POSIX). A job
killed at any moment leaves at worst a stray ``*.tmp-*`` file, never a
half-written file under a real name. The temporary name carries the writer's
host and process id, so a later run removes the leftovers of dead writers
without touching files that a concurrent shard is still writing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from .errors import LrcnError


_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_TMP = re.compile(r"\.tmp-([0-9a-f]{6})-(\d+)-[0-9a-f]{8}")
NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
#: A leftover of another host is removed only when it is older than this (seconds).
FOREIGN_TMP_AGE = 6 * 3600


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, keep_suffix: bool = True) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    With ``keep_suffix`` the temporary name keeps the final extension
    (``clip.tmp-<host>-<pid>-<rand>.avi``) so that writers choosing a format by
    extension still work; without it the extension is hidden
    (``key.npy.tmp-…``) so that globbing for finished files never sees it.
    """
    path = Path(path)
    try:
        tmp = temporary_sibling(path, keep_suffix)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        yield str(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise write_error(path, exc) from None
    except BaseException:
        _remove(tmp)
        raise


#: The causes of a failed write, in words (the rest keep the system's own text).
WRITE_ERRORS = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
                errno.EACCES: "permission denied", errno.EPERM: "not permitted", errno.EDQUOT: "disk quota exceeded",
                errno.ENAMETOOLONG: "file name too long", errno.ENOTDIR: "a part of the path is a file, not a folder",
                errno.ELOOP: "symbolic link loop in the path"}


def write_error(path: str | os.PathLike, exc: OSError) -> LrcnError:
    """One line for a write to ``path`` that failed with ``exc``: the path and its real cause, and that
    the file there before (if any) is unchanged."""
    cause = WRITE_ERRORS.get(exc.errno) or (exc.strerror or str(exc))
    if exc.errno == errno.EEXIST and not Path(path).parent.is_dir():  # mkdir of a folder where a file is
        cause = WRITE_ERRORS[errno.ENOTDIR]
    return LrcnError(f"{path}: cannot write ({cause}); nothing was overwritten")


def check_writable(path: str | os.PathLike) -> None:
    """Before a long job: whether a file can be created at ``path`` (a probe file made and removed
    beside it; nothing is left). Raises the :func:`write_error` line otherwise."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = temporary_sibling(path)
        with open(probe, "wb"):
            pass
        _remove(probe)
    except OSError as exc:
        raise write_error(path, exc) from None


def fit_name(name: str, what: str = "", tail: str | None = None) -> str:
    """``name`` shortened to :data:`NAME_MAX` bytes where it is longer: its ``tail`` kept (default: its
    suffix; e.g. ``_annotated.mp4``), the part before it cut and a short hash of the whole added so two
    long names stay apart, with a warning naming both."""
    if len(name.encode()) <= NAME_MAX:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    tail = Path(name).suffix if tail is None or not name.endswith(tail) else tail
    room = NAME_MAX - len(f"~{digest}{tail}".encode())
    short = name[: len(name) - len(tail)].encode()[:room].decode(errors="ignore") + f"~{digest}{tail}"
    logging.getLogger(__name__).warning("%s%s is longer than a file name may be (%d bytes); written as %s",
                                        f"{what}: " if what else "", name, len(name.encode()), short)
    return short


def temporary_sibling(path: str | os.PathLike, keep_suffix: bool = True) -> Path:
    """A temporary name beside ``path`` (its folder made), one that a later run recognises as a
    leftover of this writer (see :func:`atomic_path`, which most writers use)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f".tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    stem, suffix = (path.stem, path.suffix) if keep_suffix else (path.name, "")
    room = NAME_MAX - len((tag + suffix).encode())  # a legal long name must not get an illegal temporary one
    stem = stem.encode()[:room].decode(errors="ignore")
    return path.with_name(f"{stem}{tag}{suffix}")


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


def _writer_is_gone(tmp: Path) -> bool:
    match = _TMP.search(tmp.name)
    if match is None or match.group(1) != _HOST:
        with contextlib.suppress(FileNotFoundError):
            return time.time() - tmp.stat().st_mtime > FOREIGN_TMP_AGE
        return False
    pid = int(match.group(2))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process whose parent has not reaped it yet still answers ``kill(pid, 0)``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the ``*.tmp-*`` leftovers of dead writers below ``folder``; returns how many.

    A temporary file whose writer (this host, its pid) is still alive is kept,
    so concurrent shards writing into the same folder are safe; one written on
    another host is removed once it is :data:`FOREIGN_TMP_AGE` seconds old.
    """
    count = 0
    for tmp in Path(folder).rglob("*.tmp-*"):
        if tmp.is_file() and _writer_is_gone(tmp):
            _remove(tmp)
            count += 1
    return count


class FolderLock:
    """One writer at a time for an output folder: ``with FolderLock(folder, "train"):``.

    The lock is an advisory ``flock`` on ``<folder>/<name>``, which holds the
    holder's host, pid and job. The kernel releases it when its process dies,
    so a killed writer's lock is simply taken over; a live holder makes the
    second writer stop at once with a message naming the first. A job that fails before writing
    anything into a folder it created leaves no folder behind.
    """

    def __init__(self, folder: str | os.PathLike, job: str, name: str = ".lrcn.lock"):
        self.path = Path(folder) / name
        self.job = job
        self._fd: int | None = None
        self._created = False

    def __enter__(self) -> "FolderLock":
        import fcntl

        self._created = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LrcnError(f"{self.path.parent}: in use by {holder}; wait for it to finish or stop it") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"'{self.job}' (host {socket.gethostname()}, pid {os.getpid()})\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            import fcntl

            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            if exc and exc[0] is not None and self._created:  # a job that failed before writing anything:
                with contextlib.suppress(OSError):  # no folder left behind holding only its lock
                    if [p.name for p in self.path.parent.iterdir()] == [self.path.name]:
                        self.path.unlink()
                        self.path.parent.rmdir()


def package_file(package: str, *parts: str) -> Path | None:
    """A data file that an installed package carries (``package/parts...``), found without importing
    the package (some only carry files: their code may not import here); None where it is missing."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.is_file() else None
