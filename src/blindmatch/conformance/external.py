"""Drive a foreign implementation over stdin/stdout JSON lines (protocol in vectors/README.md).

The kit starts the program, sends one request per line and reads one answer per line, in
order; the same checkers then judge its answers as they judge blindmatch's engines. A program
that exits, stalls or answers out of protocol fails the case being checked, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ..crypto.engine import CryptoEngine
from ..errors import ConformanceError, UsageError
from .implementations import OPS, Normalized

__all__ = ["PROTOCOL", "ExternalImplementation"]

#: The line protocol's name, sent in the first request.
PROTOCOL = "blindmatch-conformance/1"
#: Seconds a started program may take for its first answer, whatever ``timeout`` says.
START_TIMEOUT = 60.0
#: Operations a foreign program may offer (``blindmatch`` is in-process only).
EXTERNAL_OPS = frozenset(OPS) - {"blindmatch"}


class _Desync(ConformanceError):
    """The line protocol broke: no later answer can be trusted to be the one asked for."""


class ExternalImplementation:
    """A program under test, started once per check of a file and stopped after it.

    :param command: the program and its arguments (no shell).
    :param timeout: seconds to wait for each answer.
    """

    def __init__(self, command: Sequence[str], *, name: str = "external", timeout: float = 30.0):
        if not command:
            raise UsageError("--external needs a command to run")
        self.command = list(command)
        self.name = name
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._next_id = 0
        self._buffer = b""
        self._broken = ""
        self.ops = self._handshake()

    def __repr__(self) -> str:
        return f"ExternalImplementation({self.command[0]!r})"

    # -- process ---------------------------------------------------------------------------------

    def _start(self) -> subprocess.Popen[bytes]:
        try:
            process = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
            )
        except OSError as exc:
            raise UsageError(f"cannot start {self.command[0]!r}: {exc.strerror or exc}") from None
        self._process = process
        self._buffer = b""
        self._broken = ""
        self._answered = False
        return process

    def _stop(self, *, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if kill:
            process.kill()
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        self._start()
        try:
            yield
        finally:
            self._stop()

    def active(self) -> contextlib.AbstractContextManager[None]:
        return self._running()

    def _handshake(self) -> frozenset[str]:
        with self._running():
            answer = self._call("hello", protocol=PROTOCOL)
        if not isinstance(answer, list) or not all(isinstance(op, str) for op in answer):
            raise ConformanceError("hello: the result must be a list of operation names")
        unknown = set(answer) - EXTERNAL_OPS
        if unknown:
            raise ConformanceError(f"hello: unknown operations {sorted(unknown)}")
        return frozenset(answer)

    def _readline(self, stream: IO[bytes], wait: float) -> bytes:
        deadline = time.monotonic() + wait
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise _Desync(f"no answer within {wait:g} s")
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    raise _Desync("the implementation exited (end of its output)")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _call(self, op: str, **fields: Any) -> Any:
        """One request and its answer. When the line protocol breaks (no answer in time, not
        JSON, a wrong id, the program gone), the program is stopped: an answer could no longer
        be told from the next one, so every later case fails saying why."""
        if self._broken:
            raise ConformanceError(
                f"{op}: not asked, the implementation was stopped: {self._broken}"
            )
        try:
            return self._exchange(op, fields)
        except _Desync as exc:
            self._broken = str(exc)
            self._stop(kill=True)
            raise ConformanceError(str(exc)) from None

    def _exchange(self, op: str, fields: dict[str, Any]) -> Any:
        process = self._process
        if process is None:
            raise _Desync("the implementation is not running")
        assert process.stdin is not None and process.stdout is not None
        self._next_id += 1
        request = {"id": self._next_id, "op": op, **fields}
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
        except (BrokenPipeError, OSError):
            raise _Desync("the implementation exited (its input is closed)") from None
        # a program's first answer also waits for it to start (an interpreter, a JVM)
        wait = self.timeout if self._answered else max(self.timeout, START_TIMEOUT)
        line = self._readline(process.stdout, wait)
        self._answered = True
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise _Desync(f"{op}: the answer is not one JSON line: {line[:80]!r}") from None
        if not isinstance(answer, dict) or answer.get("id") != self._next_id:
            raise _Desync(f"{op}: the answer does not carry id {self._next_id}")
        if "error" in answer:
            raise ConformanceError(f"{op}: the implementation refused: {answer['error']}")
        if "result" not in answer:
            raise ConformanceError(f"{op}: the answer has neither result nor error")
        return answer["result"]

    def _bytes(self, op: str, value: Any, length: int | None = 32) -> bytes:
        try:
            out = bytes.fromhex(value)
        except (TypeError, ValueError):
            raise ConformanceError(f"{op}: the result is not hexadecimal: {value!r}") from None
        if length is not None and len(out) != length:
            raise ConformanceError(f"{op}: the result is {len(out)} bytes, expected {length}")
        return out

    # -- operations -------------------------------------------------------------------------------

    def normalize(
        self,
        key_type: str,
        raw: str | None,
        *,
        region: str | None,
        gmail_rules: bool,
        profile: str,
    ) -> Normalized:
        answer = self._call(
            "normalize",
            profile=profile,
            key_type=key_type,
            raw=raw,
            region=region,
            gmail_rules=gmail_rules,
        )
        shape = 'normalize: the result must be {"key": ..., "more": [...]} or {"reason": ...}'
        if not isinstance(answer, dict):
            raise ConformanceError(shape)
        if set(answer) == {"reason"} and isinstance(answer["reason"], str):
            return Normalized(reason=answer["reason"])
        more = answer.get("more", [])
        if (
            set(answer) - {"more"} != {"key"}
            or not isinstance(answer["key"], str)
            or not isinstance(more, list)
            or not all(isinstance(k, str) for k in more)
        ):
            raise ConformanceError(shape)
        return Normalized(key=answer["key"], more=tuple(more))

    def record_keys(self, keys: list[tuple[str, str]], profile: str) -> list[tuple[str, str]]:
        answer = self._call("record_keys", profile=profile, keys=[list(k) for k in keys])
        if not isinstance(answer, list) or not all(
            isinstance(k, list) and len(k) == 2 and all(isinstance(p, str) for p in k)
            for k in answer
        ):
            raise ConformanceError("record_keys: the result must be a list of [type, value]")
        return [(str(t), str(v)) for t, v in answer]

    def expand_message_xmd(self, msg: bytes, dst: bytes, length: int) -> bytes:
        answer = self._call("expand_message_xmd", msg=msg.hex(), dst=dst.hex(), length=length)
        return self._bytes("expand_message_xmd", answer, length)

    def hash_to_field(self, msg: bytes, dst: bytes) -> tuple[int, int]:
        answer = self._call("hash_to_field", msg=msg.hex(), dst=dst.hex())
        if not isinstance(answer, list) or len(answer) != 2:
            raise ConformanceError("hash_to_field: the result must be a list of two elements")
        u0, u1 = (int.from_bytes(self._bytes("hash_to_field", u), "little") for u in answer)
        return u0, u1

    def map_to_curve(self, u: int) -> tuple[int, int]:
        answer = self._call("map_to_curve", u=u.to_bytes(32, "little").hex())
        if not isinstance(answer, list) or len(answer) != 2:
            raise ConformanceError("map_to_curve: the result must be a list [x, y]")
        x, y = (int.from_bytes(self._bytes("map_to_curve", c), "little") for c in answer)
        return x, y

    def elligator2_map(self, u: bytes) -> bytes:
        return self._bytes("elligator2_map", self._call("elligator2_map", u=u.hex()))

    def hash_to_curve(self, msg: bytes, dst: bytes) -> bytes:
        answer = self._call("hash_to_curve", msg=msg.hex(), dst=dst.hex())
        return self._bytes("hash_to_curve", answer)

    def x25519(self, scalar: bytes, u: bytes) -> bytes:
        return self._bytes("x25519", self._call("x25519", scalar=scalar.hex(), u=u.hex()))

    def engine(self) -> CryptoEngine:
        raise ConformanceError("an external implementation has no in-process engine")
