"""Atomic file writes: a reader never sees a half-written file, a crash leaves the old one.

A write that fails in the operating system (disk full, quota, permissions) removes its temporary
file and raises ``OutputError``: an ``OSError`` that the CLI prints as one line. Temporaries that a
killed process left behind are named ``.<name>.<random>.tmp``; ``remove_stale_temporaries``
deletes them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ganatomy.errors import GanatomyError, OptionsError

_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}(\.[A-Za-z0-9]+)?\.tmp$")  # what mkstemp/mkdtemp below make


class OutputError(OSError, GanatomyError):
    """A file could not be written (no space left, no permission, ...); nothing was half-written."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.filename = str(path)
        self.message = f"{path}: cannot write ({cause.strerror or cause}); the previous version, if any, is kept"

    def __str__(self) -> str:
        return self.message


# Errors of writing, whatever the code between open and close was doing: converted to OutputError.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def output_error(path: str | os.PathLike, cause: OSError) -> OutputError:
    return cause if isinstance(cause, OutputError) else OutputError(Path(path), cause)


def is_write_error(e: BaseException) -> bool:
    """Disk full, quota, file too large, read-only filesystem (not: a file the writer failed to read)."""
    return isinstance(e, OSError) and (isinstance(e, OutputError) or e.errno in _WRITE_ERRNOS)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    except OSError as e:
        raise output_error(path, e) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if is_write_error(e):
            raise output_error(path, e) from None
        raise
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise output_error(path, e) from None
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds.

    Used by exports: a failed export leaves nothing half-written behind.
    """
    path = Path(path)
    occupied = any(path.iterdir()) if path.is_dir() else path.exists()
    if occupied:
        raise FileExistsError(f"{path}: already exists and is not empty; choose a new --outdir")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise output_error(path, e) from None
    try:
        yield tmp
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_write_error(e):
            raise output_error(path, e) from None
        raise
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0700)
        if path.is_dir():
            path.rmdir()  # empty, checked above
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise output_error(path, e) from None
        raise


def remove_stale_temporaries(directory: str | os.PathLike) -> list[str]:
    """Delete the temporary files and folders of writes that a killed process left in ``directory``
    (not recursive); returns their names. Only for a directory no other process is writing to."""
    removed = []
    for p in Path(directory).iterdir():
        if _TEMPORARY.match(p.name):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
            removed.append(p.name)
    return sorted(removed)


def check_output_dir(path: str | os.PathLike, flag: str, parents_only: bool = False) -> Path:
    """OptionsError (one line) unless ``path`` is a directory or can be made one: every part of it that
    exists must be a directory, and the deepest existing one writable. Nothing is created.
    ``parents_only``: ``path`` itself may be anything its writer checks (a zip to create)."""
    path = Path(path)
    for part in (*(() if parents_only else (path,)), *path.parents):
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                what = "is a file" if part == path else f"is under {part}, which is a file"
                raise OptionsError(f"{flag} {path}: {what}; give a directory")
            if not os.access(part, os.W_OK | os.X_OK):
                raise OptionsError(f"{flag} {path}: {part} is not writable")
            return path
    return path
