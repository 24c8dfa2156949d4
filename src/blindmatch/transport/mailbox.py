"""The offline protocol run automatically through shared storage: a mailbox both sides reach.

Why: offline message files solve "no connection between us", but carrying them by hand is
slow and error-prone. If both companies can reach one storage location (a network folder, an
SFTP server, an S3, GCS or Azure bucket), each side can put its messages there and poll for
the partner's: the offline run then finishes in minutes, unattended.

This is a thin adapter: every step is :meth:`OfflineParty.step` (the same state file, replay,
pinning and expiry), so a mailbox run is exactly as encrypted, authenticated and resumable as
an offline run by hand. What this module adds is moving files:

* **Atomic puts.** A message is uploaded under a hidden temporary name (``.<name>.<random>``)
  and then renamed (``mv``), so the partner never sees half a file. On stores without a
  rename (S3, GCS) ``mv`` is a server-side copy, which also appears whole.
* **Polling** every ``poll`` seconds for the partner's messages (names ``blindmatch-<role>-*``
  of the other role), bounded by ``timeout`` (no new message for that long) and ``deadline``
  (the whole run).
* **Cleanup.** A partner message is deleted from the mailbox once our state holds it (it is
  pinned there by its hash and its payload kept locally); messages older than the offline
  lifetime (7 days), and leftover temporary files, are deleted as stale.
* **Resume.** Rerun the same command after a crash: the state file carries the run, and our
  latest message is put again if the mailbox lost it.

The mailbox sees only message files: channel records under the session key. Whoever runs the
storage can delete or withhold messages (the run then times out), not read or forge them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import TransportError, TransportTimeoutError, UsageError
from ..io.atomic import write_private
from ..protocol import OverlapResult, Role
from .offline import DEFAULT_LIFETIME, OfflineParty, read_message

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = ["DEFAULT_POLL", "Mailbox", "run_mailbox"]

#: Seconds between two looks into the mailbox.
DEFAULT_POLL: Final = 2.0
_PREFIX: Final = "blindmatch-"
_SUFFIX: Final = ".bmx"


class Mailbox:
    """One fsspec location holding both sides' message files.

    :param url: a folder URL fsspec understands (a local path, ``file://``, ``sftp://user@host/
        path``, ``s3://bucket/prefix``, ``gs://...``, ``az://...``).
    :param options: storage options for fsspec (credentials, ``key_filename``, ...).
    """

    def __init__(self, url: str, **options: Any) -> None:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise UsageError("--mailbox needs fsspec: pip install 'blindmatch[mailbox]'") from exc
        self.url = url
        try:
            fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as exc:
            raise UsageError(f"cannot use the mailbox {_shown(url)}: {exc}") from exc
        self.fs: AbstractFileSystem = fs
        self.root = str(root).rstrip("/") or "/"
        # Both sides start at once: the partner may make a folder of the path between the
        # backend's check and its mkdir (fsspec's SFTP then fails with "exists"); once that
        # folder exists, trying again goes past it.
        for attempt in range(4):
            try:
                self.fs.makedirs(self.root, exist_ok=True)
                break
            except Exception as exc:  # noqa: BLE001 - any backend's failure, reported by name
                if self._is_folder():
                    break
                if attempt == 3:
                    raise TransportError(
                        f"cannot reach the mailbox {_shown(url)}: {_why(exc)}"
                    ) from exc

    def _is_folder(self) -> bool:
        try:
            return bool(self.fs.isdir(self.root))
        except Exception:  # noqa: BLE001
            return False

    def __repr__(self) -> str:
        return f"Mailbox({_shown(self.url)!r})"

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def listing(self) -> dict[str, dict[str, Any]]:
        """Message files and leftover temporaries in the mailbox, by name."""
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:  # noqa: BLE001
            raise TransportError(
                f"cannot list the mailbox {_shown(self.url)}: {_why(exc)}"
            ) from exc
        found: dict[str, dict[str, Any]] = {}
        for entry in entries:
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            if name.startswith((_PREFIX, "." + _PREFIX)) and entry.get("type") == "file":
                found[name] = entry
        return found

    def put(self, local: Path) -> None:
        """Upload ``local`` under its own name, atomically (temporary name, then rename)."""
        tmp = self._path(f".{local.name}.{secrets.token_hex(6)}")
        try:
            self.fs.put_file(str(local), tmp)
            self.fs.mv(tmp, self._path(local.name))
        except Exception as exc:  # noqa: BLE001
            with contextlib.suppress(Exception):
                self.fs.rm_file(tmp)
            raise TransportError(
                f"cannot put {local.name} into the mailbox {_shown(self.url)}: {_why(exc)}"
            ) from exc

    def get(self, name: str, local: Path) -> None:
        """Download ``name`` to ``local`` (atomically, owner-only)."""
        try:
            data = self.fs.cat_file(self._path(name))
        except Exception as exc:  # noqa: BLE001
            raise TransportError(
                f"cannot get {name} from the mailbox {_shown(self.url)}: {_why(exc)}"
            ) from exc
        write_private(local, data)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            try:
                self.fs.rm_file(self._path(name))
            except FileNotFoundError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise TransportError(
                    f"cannot remove {name} from the mailbox {_shown(self.url)}: {_why(exc)}"
                ) from exc


def run_mailbox(
    party: OfflineParty,
    mailbox: Mailbox,
    *,
    role: Role,
    inbox: str | os.PathLike[str],
    poll: float = DEFAULT_POLL,
    timeout: float = 3600.0,
    deadline: float | None = None,
    lifetime: float = DEFAULT_LIFETIME,
    on_wait: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> OverlapResult:
    """Run ``party`` to its result through ``mailbox``: step, put, poll, repeat.

    :param role: our session role (names our files and the partner's apart).
    :param inbox: a private local folder for the partner's downloaded messages.
    :param poll: seconds between looks into the mailbox.
    :param timeout: seconds to wait for the partner's next message before giving up (the run
        stays resumable: rerun to go on waiting).
    :param deadline: seconds the whole run may last (None: no limit).
    :param lifetime: messages older than this (by modification time) are deleted as stale.
    :param on_wait: told once per wait what we wait for (for a progress line).
    """
    for name, value in (("poll", poll), ("timeout", timeout)):
        if not value > 0:
            raise UsageError(f"{name} must be a positive number of seconds, not {value!r}")
    theirs = _PREFIX + (Role.RECEIVER if role is Role.SENDER else Role.SENDER).value + "-"
    ours = _PREFIX + role.value + "-"
    inbox = Path(inbox)
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    started = clock()
    last_progress = started
    fetched: set[str] = set()
    if not party.state_path.exists():
        # A new run: our files left in the outbox belong to a run that ended.
        for old in party.out_dir.glob(ours + "*" + _SUFFIX):
            old.unlink()
    put_upto = _latest_step(party.out_dir, ours) - 1  # resume: our latest goes in again
    waiting_told = ""
    while True:
        listing = mailbox.listing()
        _expire(mailbox, listing, lifetime)
        new = sorted(n for n in listing if n.startswith(theirs) and n not in fetched)
        for name in new:
            mailbox.get(name, inbox / name)
            fetched.add(name)
        partner_files = _belonging(party, inbox, theirs)
        try:
            written = party.step(partner_files)
        finally:
            put_upto = _put_ours(mailbox, party.out_dir, ours, put_upto, listing)
        # Everything we passed is now pinned in our state: the mailbox copy has done its job.
        for path in partner_files:
            if path.name in listing:
                mailbox.remove(path.name)
            path.unlink()
        if party.done:
            assert party.result is not None
            shutil.rmtree(inbox, ignore_errors=True)
            return party.result
        now = clock()
        if new or written is not None:
            last_progress = now
            waiting_told = ""
        if deadline is not None and now - started >= deadline:
            raise TransportTimeoutError(
                f"the mailbox run did not finish within its deadline of {deadline:g} s; its "
                f"state is kept: run the same command again to go on"
            )
        if now - last_progress >= timeout:
            raise TransportTimeoutError(
                f"no new message from the partner in the mailbox {_shown(mailbox.url)} for "
                f"{timeout:g} s; the run's state is kept: run the same command again to go on "
                f"waiting"
            )
        if on_wait is not None and not waiting_told:
            waiting_told = "told"
            on_wait(f"waiting for the partner's next message in {_shown(mailbox.url)}")
        budget = min(poll, last_progress + timeout - now)
        if deadline is not None:
            budget = min(budget, started + deadline - now)
        sleep(max(budget, 0.0))


def _belonging(party: OfflineParty, inbox: Path, theirs: str) -> list[Path]:
    """The downloaded partner messages that can belong to this run; others (old runs in a
    shared folder) are left for the lifetime expiry."""
    found = []
    for path in sorted(inbox.glob(theirs + "*" + _SUFFIX)):
        message = read_message(path)
        if party.belongs(message):
            found.append(path)
        else:
            path.unlink()
    runs = {read_message(p).run_id for p in found}
    if len(runs) > 1:
        raise TransportError(
            f"the mailbox holds first messages of {len(runs)} different runs of the partner; "
            f"use a folder of its own for each run (or remove the stale ones)"
        )
    return found


def _latest_step(folder: Path, ours: str) -> int:
    steps = [read_message(p).step for p in folder.glob(ours + "*" + _SUFFIX)]
    return max(steps, default=0)


def _put_ours(
    mailbox: Mailbox, folder: Path, ours: str, put_upto: int, listing: dict[str, Any]
) -> int:
    """Put our message files newer than ``put_upto`` (and our latest, if the mailbox lost
    it); returns the newest step put."""
    for path in sorted(folder.glob(ours + "*" + _SUFFIX)):
        step = read_message(path).step
        if step > put_upto:
            if path.name not in listing:
                mailbox.put(path)
            put_upto = step
    return put_upto


def _expire(mailbox: Mailbox, listing: dict[str, dict[str, Any]], lifetime: float) -> None:
    """Delete stale files: messages past the offline lifetime, temporaries of crashed puts."""
    now = time.time()
    for name, entry in list(listing.items()):
        modified = _mtime(entry)
        if modified is None:
            continue
        stale_after = lifetime if not name.startswith(".") else 3600.0
        if now - modified > stale_after:
            mailbox.remove(name)
            del listing[name]


def _mtime(entry: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = entry.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        timestamp = getattr(value, "timestamp", None)
        if callable(timestamp):
            return float(timestamp())
    return None


def _shown(url: str) -> str:
    """The URL without a password (``sftp://user:secret@host`` shows as ``user@host``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, host = rest.partition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0]
    return f"{scheme}://{userinfo}{at}{host}" if at else url


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
