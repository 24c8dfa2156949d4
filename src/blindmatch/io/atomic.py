"""Atomic files and atomic sets of files: a reader sees the old contents or the new, never half.

Every file blindmatch writes goes through :func:`atomic_writer` (or its one-shot form
:func:`atomic_write`): the bytes go to a hidden temporary file in the destination directory,
which is flushed, ``fsync``-ed and then ``os.replace``-d over the destination. A failure (an
exception, Ctrl-C, a full disk) removes the temporary file and leaves the destination untouched.
Files that may hold partner data or secrets are created ``0o600`` (``private=True``, or
:func:`write_private`) from their first byte; others ``0o644``. Both are further restricted by
the umask, never widened.

*Output sets.* A run writes several files (summary, matrix, matched records, manifest). The CLI
must leave either all of them or none, so :class:`AtomicOutputSet` stages every file as a
temporary first and renames them only once all were written; if anything fails before or
during the renames, every staged file is removed and destinations already replaced are put back.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

from ..errors import UsageError

__all__ = [
    "PRIVATE_MODE",
    "PUBLIC_MODE",
    "AtomicOutputSet",
    "StrPath",
    "atomic_write",
    "atomic_writer",
    "output_file",
    "write_private",
]

StrPath = str | os.PathLike[str]

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


def _check_destination(path: StrPath) -> str:
    """Fail before writing anything if the destination can never be written."""
    dest = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        raise UsageError(f"{os.fspath(path)}: output directory {parent} does not exist")
    if os.path.isdir(dest):
        raise UsageError(f"{os.fspath(path)}: is a directory, not a file")
    return dest


def _hidden_sibling(dest: str, suffix: str) -> str:
    """A fresh hidden name next to ``dest`` (same directory, so ``os.replace`` is atomic)."""
    parent, name = os.path.split(dest)
    return os.path.join(parent, f".{name[:100]}.{secrets.token_hex(6)}{suffix}")


def _create_exclusive(dest: str, private: bool) -> tuple[str, int]:
    """Create the temporary file with its final permissions from the start (no chmod window)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for _ in range(16):
        temp = _hidden_sibling(dest, ".tmp")
        try:
            return temp, os.open(temp, flags, PRIVATE_MODE if private else PUBLIC_MODE)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {dest}")  # pragma: no cover


def _fsync_directory(directory: str) -> None:
    """Make a rename durable. Best effort: some platforms cannot open or sync a directory."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _remove_all(staged: list[_Staged]) -> None:
    for item in staged:
        _remove_quietly(item.temp)


@dataclass(slots=True)
class _Staged:
    """A temporary file that holds the complete new contents of ``dest``."""

    temp: str
    dest: str


def _check_mode(mode: str) -> None:
    if mode not in ("w", "wb"):
        raise UsageError(f"atomic writes support mode 'w' or 'wb', not {mode!r}")


@contextlib.contextmanager
def _staged_file(
    dest: str, mode: str, encoding: str, newline: str, private: bool
) -> Iterator[tuple[IO[Any], _Staged]]:
    """Write a temporary file; on success it is closed and fsynced, on failure removed."""
    temp, fd = _create_exclusive(dest, private)
    try:
        if mode == "wb":
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        _remove_quietly(temp)
        raise
    try:
        with handle:
            yield handle, _Staged(temp, dest)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _remove_quietly(temp)
        raise


@overload
def atomic_writer(
    path: StrPath,
    mode: Literal["w"] = "w",
    encoding: str = "utf-8",
    newline: str = "",
    *,
    private: bool = False,
) -> contextlib.AbstractContextManager[TextIO]: ...
@overload
def atomic_writer(
    path: StrPath,
    mode: Literal["wb"],
    encoding: str = "utf-8",
    newline: str = "",
    *,
    private: bool = False,
) -> contextlib.AbstractContextManager[BinaryIO]: ...
def atomic_writer(
    path: StrPath,
    mode: str = "w",
    encoding: str = "utf-8",
    newline: str = "",
    *,
    private: bool = False,
) -> contextlib.AbstractContextManager[IO[Any]]:
    """Open ``path`` for writing so it is replaced all at once, or not at all.

    ``newline=""`` (no translation) suits the ``csv`` module and writes ``\\n`` as is.
    ``private=True`` creates the file ``0o600``: use it for anything derived from partner data.
    ``encoding`` and ``newline`` are ignored in ``"wb"`` mode.
    """
    _check_mode(mode)
    dest = _check_destination(path)
    return _atomic_writer(dest, mode, encoding, newline, private)


@contextlib.contextmanager
def _atomic_writer(
    dest: str, mode: str, encoding: str, newline: str, private: bool
) -> Iterator[IO[Any]]:
    with _staged_file(dest, mode, encoding, newline, private) as (handle, staged):
        yield handle
    try:
        os.replace(staged.temp, staged.dest)
    except BaseException:
        _remove_quietly(staged.temp)
        raise
    _fsync_directory(os.path.dirname(dest))


def atomic_write(
    path: StrPath, data: bytes | str, *, private: bool = False, encoding: str = "utf-8"
) -> None:
    """Replace ``path`` with ``data`` atomically (text is encoded, newlines untranslated)."""
    if isinstance(data, str):
        with atomic_writer(path, "w", encoding, "", private=private) as text:
            text.write(data)
    else:
        with atomic_writer(path, "wb", private=private) as binary:
            binary.write(data)


def write_private(path: StrPath, data: bytes | str) -> None:
    """Replace ``path`` atomically with a file only its owner can read (``0o600`` from the first
    byte): for state, secrets and anything holding partner data."""
    atomic_write(path, data, private=True)


class AtomicOutputSet:
    """Several output files that appear together at :meth:`commit`, or not at all.

    Use it as a context manager: files opened with :meth:`open` (or written with :meth:`write`)
    are staged as hidden temporaries; leaving the block normally commits, leaving it with an
    exception removes every temporary and no destination changes::

        with AtomicOutputSet() as out:
            write_overlap_json(run_dir / "overlap.json", result, outputs=out)
            write_matches(run_dir / "matches.csv", result, run_id=rid, outputs=out)

    Once a staged file failed, the set refuses to commit, so a caught exception cannot lead to
    a partial set. Renames happen only after every file was written and fsynced; if one rename
    fails, destinations already replaced get their old contents back (or are removed if they
    did not exist). Not safe against a crash in the middle of the renames (nothing short of a
    transaction is), which leaves at most some hidden ``.tmp``/``.bak`` files behind.
    """

    def __init__(self, *, private: bool = False) -> None:
        self._private = private
        self._staged: list[_Staged] = []
        self._removals: list[str] = []
        self._dests: set[str] = set()
        self._failed = False
        self._closed = False
        # A set dropped without commit or abort still removes its temporaries.
        self._finalizer = weakref.finalize(self, _remove_all, self._staged)

    @property
    def paths(self) -> tuple[str, ...]:
        """Destinations staged so far, in order."""
        return tuple(s.dest for s in self._staged)

    def _reserve(self, path: StrPath, mode: str) -> str:
        if self._closed:
            raise UsageError("this output set was already committed or aborted")
        if self._failed:
            raise UsageError("an earlier output of this set failed; it can only be aborted")
        _check_mode(mode)
        dest = _check_destination(path)
        key = os.path.normcase(dest)
        if key in self._dests:
            raise UsageError(f"{os.fspath(path)}: written twice in one output set")
        self._dests.add(key)
        return dest

    @overload
    def open(
        self,
        path: StrPath,
        mode: Literal["w"] = "w",
        encoding: str = "utf-8",
        newline: str = "",
        *,
        private: bool | None = None,
    ) -> contextlib.AbstractContextManager[TextIO]: ...
    @overload
    def open(
        self,
        path: StrPath,
        mode: Literal["wb"],
        encoding: str = "utf-8",
        newline: str = "",
        *,
        private: bool | None = None,
    ) -> contextlib.AbstractContextManager[BinaryIO]: ...
    def open(
        self,
        path: StrPath,
        mode: str = "w",
        encoding: str = "utf-8",
        newline: str = "",
        *,
        private: bool | None = None,
    ) -> contextlib.AbstractContextManager[IO[Any]]:
        """Stage ``path``: like :func:`atomic_writer`, but renamed only at :meth:`commit`."""
        dest = self._reserve(path, mode)
        chosen = self._private if private is None else private
        return self._open(dest, mode, encoding, newline, chosen)

    @contextlib.contextmanager
    def _open(
        self, dest: str, mode: str, encoding: str, newline: str, private: bool
    ) -> Iterator[IO[Any]]:
        try:
            with _staged_file(dest, mode, encoding, newline, private) as (handle, staged):
                yield handle
        except BaseException:
            self._failed = True
            raise
        self._staged.append(staged)

    def write(
        self,
        path: StrPath,
        data: bytes | str,
        *,
        private: bool | None = None,
        encoding: str = "utf-8",
    ) -> None:
        """Stage ``path`` with the given contents."""
        if isinstance(data, str):
            with self.open(path, "w", encoding, "", private=private) as text:
                text.write(data)
        else:
            with self.open(path, "wb", private=private) as binary:
                binary.write(data)

    def remove(self, path: StrPath) -> None:
        """Stage the removal of ``path`` if it exists: an output of an earlier run into the
        same place that this run does not produce (a ``matches.csv`` left over next to a new
        counts-only summary would be read as part of it). Removed at :meth:`commit`, with the
        files written; restored if the commit fails."""
        self._removals.append(self._reserve(path, "wb"))

    def commit(self) -> None:
        """Move every staged file into place; on any failure, undo and re-raise."""
        if self._closed:
            raise UsageError("this output set was already committed or aborted")
        if self._failed:
            self.abort()
            raise UsageError("an output of this set failed; nothing was written")
        self._closed = True
        done: list[tuple[_Staged, str | None]] = []
        removed: list[tuple[str, str]] = []
        try:
            for staged in self._staged:
                backup = self._backup(staged.dest)
                done.append((staged, backup))
                os.replace(staged.temp, staged.dest)
            for dest in self._removals:
                kept = self._backup(dest)
                if kept is not None:
                    removed.append((dest, kept))  # before the unlink: rollback restores it
                    os.unlink(dest)
        except BaseException:
            for dest, kept in reversed(removed):
                with contextlib.suppress(OSError):
                    if os.path.lexists(dest):  # its unlink failed: the backup is a spare link
                        _remove_quietly(kept)
                    else:
                        os.replace(kept, dest)
            self._rollback(done)
            for staged in self._staged:
                _remove_quietly(staged.temp)
            raise
        for _, backup in [*done, *removed]:
            if backup is not None:
                _remove_quietly(backup)
        dirs = {os.path.dirname(s.dest) for s in self._staged}
        dirs |= {os.path.dirname(dest) for dest, _ in removed}
        for directory in sorted(dirs):
            _fsync_directory(directory)

    @staticmethod
    def _backup(dest: str) -> str | None:
        """Keep the current destination reachable under a hidden name, for rollback."""
        if not os.path.lexists(dest):
            return None
        backup = _hidden_sibling(dest, ".bak")
        try:
            os.link(dest, backup, follow_symlinks=False)
        except (OSError, NotImplementedError):  # no hard links here: copy instead
            try:
                shutil.copy2(dest, backup, follow_symlinks=False)
            except BaseException:
                _remove_quietly(backup)
                raise
        return backup

    @staticmethod
    def _rollback(done: list[tuple[_Staged, str | None]]) -> None:
        for staged, backup in reversed(done):
            try:
                if backup is not None:
                    os.replace(backup, staged.dest)
                elif not os.path.exists(staged.temp):  # our rename happened: undo it
                    _remove_quietly(staged.dest)
            except OSError:  # pragma: no cover - best effort; the original error matters
                pass

    def abort(self) -> None:
        """Remove every staged file; destinations are untouched. Safe to call twice."""
        self._closed = True
        _remove_all(self._staged)
        self._staged.clear()

    def __enter__(self) -> AtomicOutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.commit()


@contextlib.contextmanager
def output_file(
    path: StrPath,
    mode: Literal["w", "wb"],
    *,
    private: bool,
    outputs: AtomicOutputSet | None,
    encoding: str = "utf-8",
) -> Iterator[IO[Any]]:
    """Write to a set when the caller collects a run's outputs, else atomically on its own:
    what every writer that can be part of a run's output set uses."""
    if outputs is not None:
        with outputs.open(path, mode, encoding, "", private=private) as handle:
            yield handle
    else:
        with atomic_writer(path, mode, encoding, "", private=private) as handle:
            yield handle
