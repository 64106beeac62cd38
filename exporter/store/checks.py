"""Whether a state file can be used, decided before anything is written (docs/limits.md,
"The state file").

Every check here reads only. A problem the operator must fix (a permission, a read-only
directory, a journal that is not a file, another database's journal) is a ConfigError naming
the cause and the fix, and the exporter stops with nothing touched: such problems are often
passing (a volume mounted late, a UID changed by a new image), and a file set aside for them
would lose its counts for nothing. Only a file proven not to be a database of ours is set
aside, by the store, and then renamed, never deleted.

Symbolic links are followed: the store works on the real file, and takes its lock and journals
beside it, so two spellings of one file are one file.

A database's journal (``-wal``) is bound to it: the store writes a random number into the
header of every database it makes (``user_version``, beside our ``application_id``), and every
save rewrites that header page, so each transaction in a journal of ours carries the number.
A journal whose pages carry another number, or none, was written for another database (as
when a backup is copied over the file and a stale journal stays beside it); SQLite would
replay it into this one without a word.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
from pathlib import Path
from typing import BinaryIO

from exporter.config.types import ConfigError

SQLITE_MAGIC = b"SQLite format 3\x00"
APPLICATION_ID = int.from_bytes(b"JFLT", "big")  # marks a state database of ours
HEADER_BYTES = 100  # of an SQLite database's first page
_USER_VERSION = slice(60, 64)  # the store's number, in the database header
_APPLICATION_ID = slice(68, 72)
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER, _FRAME_HEADER = 32, 24
SIDECARS = ("-wal", "-shm", "-journal")
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symbolic link",
}


def _refuse(problem: str) -> ConfigError:
    return ConfigError([f"state_file: {problem}"])


def _why(err: OSError) -> str:
    return err.strerror or type(err).__name__


def real_path(path: Path) -> Path:
    """The file a configured ``state_file`` names, symbolic links followed; a link to nothing
    is refused (it often means a volume that is not mounted)."""
    if path.is_symlink() and not path.exists():
        target = os.path.realpath(path)
        raise _refuse(f"{path} is a symbolic link to {target}, which does not exist: fix the link")
    return Path(os.path.realpath(path))


def _kind(mode: int) -> str | None:
    """What a file is when it is not a regular file, else None."""
    return None if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _check_file(path: Path, role: str, fix: str) -> None:
    """``path`` is absent, or a regular file this process may read and write."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise _refuse(f"cannot inspect {role} {path}: {_why(err)}") from None
    kind = _kind(mode)
    if kind is not None:
        raise _refuse(f"{role} {path} is {kind}, not a regular file: {fix}")
    try:  # O_NONBLOCK: never wait on whatever it is
        os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW))
    except OSError as err:
        raise _refuse(
            f"cannot open {role} {path} for reading and writing: {_why(err)}: the exporter's user"
            f" (uid {os.geteuid()}) must be allowed to read and write it (chown or chmod it)"
        ) from None


def _check_directory(directory: Path) -> None:
    """SQLite creates its journals beside the file, and the store its replacements."""
    if not directory.is_dir():
        return  # made at start, or refused then with the reason
    try:
        fd, probe = tempfile.mkstemp(prefix=".jobfleet-probe.", dir=directory)
    except OSError as err:
        raise _refuse(
            f"cannot write in the directory {directory}: {_why(err)}: the state file's directory"
            " must be writable by the exporter's user (SQLite keeps its journal beside the file)"
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_state_path(path: Path) -> None:
    """Refuse, with the cause and the fix, a state file the store could not use as it is;
    read-only. ``path`` is the real file (``real_path``)."""
    _check_file(path, "the state file", "point state_file at a file")
    for suffix in SIDECARS:
        _check_file(
            Path(f"{path}{suffix}"),
            "the journal",
            "remove it (SQLite keeps the database's journal under that name)",
        )
    _check_directory(path.parent)
    if not wal_belongs(path):
        wal = f"{path}-wal"
        raise _refuse(
            f"the journal {wal} belongs to another database, not to {path} (as when a backup is"
            f" restored beside an old journal): move {wal} and {path}-shm away, then start again"
        )


def header(path: Path) -> bytes:
    """The first bytes of ``path`` (a database's header), or fewer; b"" when unreadable."""
    try:
        with open(path, "rb") as file:
            return file.read(HEADER_BYTES)
    except OSError:
        return b""


def is_ours(head: bytes) -> bool | None:
    """Of a database header: True when it bears our mark, None when it bears none (a database
    made by a version before the mark: the store checks its tables), False when another
    program's."""
    if len(head) < HEADER_BYTES or not head.startswith(SQLITE_MAGIC):
        return False
    mark = int.from_bytes(head[_APPLICATION_ID], "big")
    return True if mark == APPLICATION_ID else None if mark == 0 else False


def wal_belongs(path: Path) -> bool:
    """Whether the journal beside ``path`` (if any) was written for it: every transaction in
    the journal's current frames rewrote the header page, with the database's own mark and
    number.

    A database without our mark (made before it) cannot tell: its journal is trusted."""
    head = header(path)
    if is_ours(head) is not True:
        return True
    try:
        with open(f"{path}-wal", "rb") as wal:
            return _frames_belong(wal, head)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _frames_belong(wal: BinaryIO, head: bytes) -> bool:
    """Read frame by frame (a journal may be large): see ``wal_belongs``."""
    start = wal.read(_WAL_HEADER)
    if len(start) < _WAL_HEADER:
        return True  # nothing to replay
    magic, _version, page_size, _seq, salt1, salt2 = struct.unpack(">6I", start[:24])
    if magic not in _WAL_MAGIC or not 512 <= page_size <= 65536:
        return True  # SQLite ignores a journal it cannot read
    own = head[_USER_VERSION], head[_APPLICATION_ID]
    marked = False  # the transaction being read has rewritten the header page
    while len(frame := wal.read(_FRAME_HEADER + page_size)) == _FRAME_HEADER + page_size:
        page, commit, s1, s2 = struct.unpack(">4I", frame[:16])
        if (s1, s2) != (salt1, salt2):
            break  # frames of an earlier generation: SQLite replays none of them
        if page == 1:
            image = frame[_FRAME_HEADER:]
            if (image[_USER_VERSION], image[_APPLICATION_ID]) != own:
                return False
            marked = True
        if commit:
            if not marked:
                return False
            marked = False
    return True
