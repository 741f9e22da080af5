"""The state folder (``AUTHGATE_STATE_DIR``, ``.authgate`` by default) is private.

It holds the embedded SQLite database (password hashes, sessions, refresh-token hashes,
sealed keys), SQLite's ``-wal``, ``-shm`` and ``-journal`` files beside it, and the
generated development secrets. Other accounts on the host must not read any of it:
the folder is 0700 and every file in it 0600 (OWASP ASVS V13.3 keeps secrets out of
reach; CWE-276 is the default-permissions mistake this avoids).

New things are created private from the start (``mkdir`` and ``open`` with explicit
modes, so no umask can widen them); SQLite gives the files it makes beside a database
the database file's own mode, so creating the database file 0600 covers its journals.
What already exists is tightened at start-up. POSIX only: elsewhere modes mean little.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from authgate.errors import ConfigurationError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "make_private_dir",
    "prepare_sqlite_file",
    "secure_state_dir",
]

DIR_MODE = 0o700
FILE_MODE = 0o600
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
_POSIX = os.name == "posix"


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with the folder itself 0700; tighten it if
    it exists."""
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if _POSIX:
            os.chmod(path, DIR_MODE)
    except OSError as exc:
        raise _unsafe(path, exc) from exc


def secure_state_dir(path: Path) -> None:
    """The existing state folder 0700 and every regular file directly in it 0600."""
    if not _POSIX or not path.is_dir():
        return
    try:
        os.chmod(path, DIR_MODE)
        with os.scandir(path) as entries:
            for entry in entries:
                # Never follow a link: its target may be anything, anywhere.
                if entry.is_file(follow_symlinks=False):
                    _tighten_file(entry.path)
    except OSError as exc:
        raise _unsafe(path, exc) from exc


def prepare_sqlite_file(database: Path) -> None:
    """Before SQLite opens ``database``: its folder exists (private when we create it),
    the file exists 0600 (an empty file is a new SQLite database), and any journal
    files left beside it are 0600 too."""
    try:
        if not database.parent.exists():
            make_private_dir(database.parent)
        # O_EXCL: never change an existing file's mode through a race; tightened below.
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _unsafe(database, exc) from exc
    if not _POSIX:
        return
    for path in (database, *(Path(f"{database}{suffix}") for suffix in _SQLITE_SIDECARS)):
        try:
            _tighten_file(str(path))
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _unsafe(path, exc) from exc


def _tighten_file(path: str) -> None:
    mode = os.lstat(path).st_mode
    if stat.S_ISREG(mode) and stat.S_IMODE(mode) != FILE_MODE:
        os.chmod(path, FILE_MODE)


def _unsafe(path: Path | str, exc: OSError) -> ConfigurationError:
    reason = exc.strerror or type(exc).__name__
    return ConfigurationError(f"cannot make {path} private to this account: {reason}")
