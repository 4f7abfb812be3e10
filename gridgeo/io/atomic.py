"""Atomic file writes: write to a temporary file next to the target, then rename.

The one home of this pattern. A reader never sees a half-written file, and a failed
write leaves the previous file (if any) untouched and no temporary file behind. Imports
only the standard library, so any layer (database, CLI) may use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, create: bool = True, private: bool = False
) -> Iterator[Path]:
    """A temporary path in ``path``'s folder that replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path
        The file to write.
    create
        Whether the temporary file exists when the block starts (``False`` for writers
        such as GDAL that insist on creating the file themselves).
    private
        Keep the file readable by its owner alone (0600: it holds secrets); otherwise
        it gets the mode any other output gets.

    Yields
    ------
    pathlib.Path
        Where to write; renamed to ``path`` on success, removed (with SQLite
        ``-wal``/``-shm``/``-journal`` side files) on any error.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=folder)
    os.close(fd)
    tmp = Path(name)
    if not create:
        tmp.unlink()
    try:
        yield tmp
        if not private:
            _as_ordinary_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        for extra in (tmp, *(Path(f"{tmp}{s}") for s in ("-wal", "-shm", "-journal"))):
            extra.unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _as_ordinary_file(tmp: Path) -> None:
    """Give the finished file the mode any other output gets (0644 under the usual umask).

    ``mkstemp`` creates 0600 files; reports and filing packages are handed on to other
    people and services, so they must not stay readable by their writer alone.
    """
    if tmp.is_file():
        os.chmod(tmp, 0o666 & ~_current_umask())


def write_text_atomic(
    path: str | os.PathLike[str], text: str, encoding: str = "utf-8", *, private: bool = False
) -> Path:
    """Write ``text`` to ``path`` atomically (``private``: mode 0600); returns ``path``."""
    with atomic_path(path, private=private) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic"]
