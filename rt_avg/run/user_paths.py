"""Paths a user gives on the command line, checked before anything starts.

A run directory, a sweep or study folder, a report's output: each is checked up front, so
that a path the system cannot use (a read-only file system, an immutable folder, a
dangling symbolic link, a name over the file system's limit, a path over the system's, a
file where a folder is expected) is refused with one line naming the flag, the path and
the cause, before a robot moves or Ray starts.  :func:`os_error_line` words an OSError
that happens later all the same.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from rt_avg.core.config import ConfigError

PATH_MAX = 4096  # Linux: bytes in a path, the final NUL included
NAME_MAX = 255  # bytes in one name, on the usual file systems
SHOWN = 120  # characters of a long path shown in a message


def shown(path: Path | str) -> str:
    """``path`` for a one-line message: a very long one keeps its start and end."""
    text = str(path)
    if len(text) <= SHOWN:
        return text
    return f"{text[:SHOWN // 2]}...{text[-SHOWN // 2:]} ({len(os.fsencode(text))} bytes)"


def _name_max(path: Path) -> int:
    """The longest name the file system under ``path`` takes."""
    for folder in path.parents:
        try:
            return os.pathconf(folder, "PC_NAME_MAX")
        except (OSError, ValueError):
            continue
    return NAME_MAX


def _not_writable(directory: Path) -> str:
    """Why ``directory`` (which exists) takes no new entries, as well as can be told."""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        pass
    return "permission denied (or the folder is immutable)"


def _check_length(path: Path, flag: str) -> None:
    full = os.fsencode(os.path.abspath(path))
    if len(full) >= PATH_MAX:
        raise ConfigError(f"{flag}: {shown(path)}: the path is {len(full)} bytes long; the "
                          f"system allows paths of up to {PATH_MAX - 1} bytes")


def _checked_lstat(path: Path, flag: str) -> os.stat_result | None:
    """lstat of ``path`` (None if nothing is there); ConfigError for any other failure."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # (inside a file: found further up)
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            name = max(path.parts, key=lambda part: len(os.fsencode(part)))
            which = "the name" if name == str(path) else f"the name {shown(name)!r} in it"
            raise ConfigError(f"{flag}: {shown(path)}: {which} is {len(os.fsencode(name))} "
                              f"bytes long; the file system allows names of up to "
                              f"{_name_max(path)} bytes") from None
        raise ConfigError(f"{flag}: {shown(path)}: {exc.strerror}") from None


def _follow(path: Path, st: os.stat_result, flag: str) -> os.stat_result:
    """The status of what the link ``path`` points to; ConfigError if nothing."""
    try:
        return os.stat(path)
    except OSError as exc:
        target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else "?"
        cause = "which does not exist" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise ConfigError(f"{flag}: {shown(path)} is a symbolic link to {shown(target)}, "
                          f"{cause}") from None


def check_output_dir(path: Path, flag: str, what: str = "the output") -> None:
    """Raise ConfigError naming ``flag`` unless a directory can be made or written at
    ``path`` (``what`` says what goes there, for the message)."""
    path = Path(path)
    _check_length(path, flag)
    for parent in (path, *path.parents):
        st = _checked_lstat(parent, flag)
        if st is None:  # not there yet: made when the run starts
            continue
        if stat.S_ISLNK(st.st_mode):
            st = _follow(parent, st, flag)
        if not stat.S_ISDIR(st.st_mode):
            where = "is a file" if parent == path else f"is inside {shown(parent)}, a file"
            raise ConfigError(f"{flag}: {shown(path)} {where}; expected a directory for "
                              f"{what}")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{flag}: cannot write {what} in {shown(parent)}: "
                              f"{_not_writable(parent)}")
        return


def check_input_path(path: Path, flag: str) -> None:
    """Raise ConfigError naming ``flag`` if ``path`` cannot even be looked at (a name or
    path too long, a dangling symbolic link, a loop); a path that is simply missing is
    left to the caller's own message."""
    path = Path(path)
    _check_length(path, flag)
    st = _checked_lstat(path, flag)
    if st is not None and stat.S_ISLNK(st.st_mode):
        _follow(path, st, flag)


def os_error_line(exc: OSError) -> str:
    """An OSError as one line: the path(s) it names and the cause."""
    cause = exc.strerror or str(exc)
    if exc.filename is None:
        return str(exc)
    paths = shown(os.fsdecode(exc.filename))
    if exc.filename2 is not None:
        paths += f" -> {shown(os.fsdecode(exc.filename2))}"
    return f"{paths}: {cause}"
