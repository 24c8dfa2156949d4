"""PoolEngine computes exactly what InlineEngine computes, whatever the number of workers.

The pool cuts batches into parts (two workers, parts of a few elements here, so every batch
really is split), runs them in worker processes and joins them: outputs, whole sessions and
the element index an error names must not change. Also here: the shortcuts the bulk paths
take (cofactor doublings folded into the blinding scalar, bulk reads of the shuffle streams)
give the bytes and draws of the plain definitions.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from blindmatch.crypto import Scalar, hash_to_curve_many
from blindmatch.crypto.engine import CryptoEngine, digest_points
from blindmatch.driver import run_pair
from blindmatch.errors import CryptoError, RemoteProtocolError
from blindmatch.parallel import PoolEngine
from blindmatch.protocol import (
    Disclosure,
    InlineEngine,
    PopulationTerms,
    Record,
    Role,
    Session,
    Terms,
    seeded_rng,
)
from blindmatch.protocol.messages import Blinded, FrameDecoder, decode_message, encode_frame
from blindmatch.protocol.randomness import (
    BufferedSystemRng,
    random_below,
    shuffle,
    stream_rng,
)

DST = b"blindmatch/1 h2c " + bytes(range(32))
PREFIX = b"blindmatch/1 digest " + bytes(32)


@pytest.fixture(scope="module")
def pool() -> Iterator[PoolEngine]:
    with PoolEngine(workers=2, min_part=4, part=8) as engine:
        yield engine


def _messages(n: int, salt: bytes = b"") -> list[bytes]:
    return [b"\x06domain" + salt + b"d%d.example" % i for i in range(n)]


def _scalars(*seeds: bytes) -> list[Scalar]:
    return [Scalar.generate_invertible(seeded_rng(s)) for s in seeds]


# -- engine outputs ------------------------------------------------------------------------------


def test_the_pool_really_splits(pool: PoolEngine) -> None:
    assert len(pool._parts(37)) >= 4
    assert pool._parts(37)[0][0] == 0 and pool._parts(37)[-1][1] == 37


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 37, 100])
def test_hash_blind_is_identical(pool: PoolEngine, n: int) -> None:
    msgs = _messages(n)
    scalars = _scalars(b"a", b"b")
    assert pool.hash_blind(msgs, DST, scalars) == InlineEngine().hash_blind(msgs, DST, scalars)


def test_hash_blind_iter_is_identical_and_in_order(pool: PoolEngine) -> None:
    batches = [_messages(n, salt=b"%d" % n) for n in (3, 40, 0, 17, 64, 9)]
    scalars = _scalars(b"c")
    inline = list(InlineEngine().hash_blind_iter(batches, DST, scalars))
    assert list(pool.hash_blind_iter(batches, DST, scalars)) == inline
    assert len(inline) == len(batches)


def test_blind_and_blind_digests_are_identical(pool: PoolEngine) -> None:
    points = b"".join(hash_to_curve_many(_messages(45), DST))
    scalars = _scalars(b"d", b"e")
    inline = InlineEngine()
    assert pool.blind(points, scalars, message="m") == inline.blind(points, scalars, message="m")
    raw = [False, True]
    got = pool.blind_digests(points, scalars, message="m", digest_prefix=PREFIX, raw=raw)
    want = inline.blind_digests(points, scalars, message="m", digest_prefix=PREFIX, raw=raw)
    assert got == want
    # ... and they are what the definitions say: digests of X25519 outputs, raw outputs.
    (blinded_d, blinded_e) = inline.blind(points, scalars, message="m")
    split = [blinded_d[i : i + 32] for i in range(0, len(blinded_d), 32)]
    assert got[0] == b"".join(hashlib.sha256(PREFIX + p).digest()[:16] for p in split)
    assert got[0] == digest_points(split, PREFIX)
    assert got[1] == blinded_e


@pytest.mark.parametrize("bad_at", [0, 5, 23, 44])
def test_a_bad_point_is_named_by_its_index_in_the_whole_batch(
    pool: PoolEngine, bad_at: int
) -> None:
    points = bytearray(b"".join(hash_to_curve_many(_messages(45), DST)))
    points[32 * bad_at : 32 * (bad_at + 1)] = bytes(32)  # u = 0: small order
    scalars = _scalars(b"f")
    errors = []
    for engine in (InlineEngine(), pool):
        with pytest.raises(CryptoError) as info:
            engine.blind(bytes(points), scalars, message="blinded message")
        errors.append(str(info.value))
        with pytest.raises(CryptoError) as info:
            engine.blind_digests(
                bytes(points), scalars, message="blinded message", digest_prefix=PREFIX,
                raw=[False],
            )  # fmt: skip
        errors.append(str(info.value))
    assert len(set(errors)) == 1
    assert f"element {bad_at} is a small-order" in errors[0]


# -- whole sessions --------------------------------------------------------------------------------


def _party(label: str, offset: int, n: int) -> tuple[Terms, list[Record]]:
    """Records and counts populations, revealed fields, two key types (so slots = 2 with
    dummies), shared keys that merge records into accounts."""
    terms = Terms(
        label=label,
        key_types=("domain", "duns"),
        populations=(
            PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS, fields=("Name",)),
            PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS),
            PopulationTerms(name="Partners", disclosure=Disclosure.COUNTS),
        ),
        payload_bytes=128,
    )
    records = []
    for i in range(n):
        k = offset + i
        keys: tuple[tuple[str, str], ...] = (("domain", f"d{k // 2}.example"),)  # pairs merge
        if k % 3 == 0:
            keys += (("duns", f"{100000000 + k}"),)
        pops = [{"Customers"}, {"Prospects"}, {"Customers", "Partners"}, {"Prospects", "Partners"}]
        records.append(
            Record(
                record_id=f"{label}{i}",
                keys=keys,
                populations=frozenset(pops[i % 4]),
                fields={"Name": f"{label}-{k}"},
            )
        )
    return terms, records


def _run(engine: CryptoEngine) -> tuple[object, object, list[tuple[Role, bytes]]]:
    (st, sr), (rt, rr) = _party("S", 0, 60), _party("R", 30, 70)
    run = run_pair(
        sender_terms=st,
        sender_records=sr,
        receiver_terms=rt,
        receiver_records=rr,
        sender_rng=seeded_rng(b"parallel s"),
        receiver_rng=seeded_rng(b"parallel r"),
        engine=engine,
        record_messages=True,
    )
    return run.sender, run.receiver, run.messages


def test_a_session_is_byte_identical_on_the_pool(pool: PoolEngine) -> None:
    inline = _run(InlineEngine())
    pooled = _run(pool)
    assert pooled[2] == inline[2]  # every message, byte for byte
    assert pooled[0] == inline[0] and pooled[1] == inline[1]
    sender = inline[0]
    assert sender.counts["Prospects"]["Prospects"] > 0 and sender.matches  # it did match


def _victim_error(engine: CryptoEngine, edit: Callable[[bytes], bytes]) -> str:
    """Replay a recorded sender, with its first blinded chunk edited, into a receiver."""
    (st, sr), (rt, rr) = _party("S", 0, 60), _party("R", 30, 70)

    def pair(engine_r: CryptoEngine) -> tuple[Session, Session]:
        s = Session(
            role=Role.SENDER, terms=st, records=sr, rng=seeded_rng(b"v s"), auto_accept=True
        )
        r = Session(
            role=Role.RECEIVER, terms=rt, records=rr, rng=seeded_rng(b"v r"), auto_accept=True,
            engine=engine_r,
        )  # fmt: skip
        s.start()
        r.start()
        return s, r

    s, r = pair(engine)
    for _ in range(100):
        out = s.data_to_send()
        frames = []
        for body in FrameDecoder().feed(out):
            msg = decode_message(body)
            if isinstance(msg, Blinded) and msg.seq == 0:
                msg = msg.model_copy(update={"points": edit(msg.points)})
            frames.append(encode_frame(msg))
        try:
            if frames:
                r.receive_data(b"".join(frames))
            back = r.data_to_send()
        except RemoteProtocolError as exc:
            return str(exc)
        if back:
            s.receive_data(back)
    raise AssertionError("no error")


@pytest.mark.parametrize("at", [1, 17, 39])
def test_a_session_names_the_same_bad_point_on_the_pool(pool: PoolEngine, at: int) -> None:
    def small_order(points: bytes) -> bytes:
        return points[: 32 * at] + (1).to_bytes(32, "little") + points[32 * (at + 1) :]

    inline = _victim_error(InlineEngine(), small_order)
    assert f"element {at} is a small-order" in inline
    assert _victim_error(pool, small_order) == inline


# -- the shortcuts equal the definitions --------------------------------------------------------


def _reference_shuffle(rng: Callable[[int], bytes], items: list[int]) -> None:
    for i in range(len(items) - 1, 0, -1):
        j = random_below(rng, i + 1)
        items[i], items[j] = items[j], items[i]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 1000, 50_000])
def test_bulk_shuffle_draws_exactly_like_one_draw_per_step(n: int) -> None:
    for make in (seeded_rng, lambda seed: stream_rng(seed, b"returned counts")):
        fast, slow = make(b"shuffle %d" % n), make(b"shuffle %d" % n)
        fast(3), slow(3)  # not aligned to 8 bytes
        a, b = list(range(n)), list(range(n))
        shuffle(fast, a)
        _reference_shuffle(slow, b)
        assert a == b
        assert fast(16) == slow(16)  # and the stream is left at the same place


class _Crafted:
    """A peekable stream with chosen bytes (to force rejections)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def __call__(self, n: int) -> bytes:
        self.at += n
        return self.data[self.at - n : self.at]

    def peek(self, n: int) -> bytes:
        return self.data[self.at : self.at + n]

    def skip(self, n: int) -> None:
        self.at += n


def test_bulk_shuffle_takes_rejections_like_the_definition() -> None:
    data = bytearray(hashlib.shake_256(b"crafted").digest(8 * 300))
    for k in (0, 7, 50):
        data[8 * k : 8 * k + 8] = b"\xff" * 8  # rejected for every bound
    fast, slow = _Crafted(bytes(data)), _Crafted(bytes(data))
    a, b = list(range(200)), list(range(200))
    shuffle(fast, a)
    _reference_shuffle(slow, b)
    assert a == b and fast.at == slow.at


def test_buffered_system_rng_serves_fresh_bytes() -> None:
    rng = BufferedSystemRng()
    draws = [rng(32) for _ in range(300)] + [rng(5000), rng(1)]
    assert [len(d) for d in draws[-2:]] == [5000, 1]
    assert len(set(draws[:300])) == 300
    items = list(range(2000))
    shuffle(rng, items)
    assert sorted(items) == list(range(2000)) and items != list(range(2000))


# -- the pool's workers do not outlive their owner ---------------------------------------------

_OWNER = """
import os, sys, time
from blindmatch.parallel import PoolEngine
engine = PoolEngine(workers=2)
engine._executor.submit(os.getpid).result()
print(" ".join(str(pid) for pid in engine._executor._processes), flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited, but answers signal 0 until it is reaped
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except FileNotFoundError:  # reaped meanwhile; or a system without /proc
        return not os.path.isdir("/proc")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_workers_exit_when_their_owner_dies(how: signal.Signals) -> None:
    """The workers hold blinding scalars in their tasks: killed owner, gone workers."""
    with subprocess.Popen(
        [sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True
    ) as owner:
        try:
            assert owner.stdout is not None
            workers = [int(pid) for pid in owner.stdout.readline().split()]
            assert len(workers) == 2 and all(_alive(pid) for pid in workers)
            owner.send_signal(how)
            owner.wait(10)
            deadline = time.monotonic() + 10
            while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(_alive(pid) for pid in workers), "workers outlived their owner"
        finally:
            owner.kill()


def test_hashing_does_the_same_work_whatever_the_scalars(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: folding cofactor doublings into the scalars worked for only some scalars, so
    the number of doublings done told about two bits of the secret. Every batch now clears
    the cofactor in full, for any scalars."""
    import blindmatch.crypto.h2c as h2c
    from blindmatch.crypto.engine import hash_blind_batch

    seen: list[int] = []
    real = h2c._points_many

    def spy(msgs: list[bytes], dst: bytes, doublings: int) -> list[bytes]:
        seen.append(doublings)
        return real(msgs, dst, doublings)

    monkeypatch.setattr(h2c, "_points_many", spy)
    for n in range(40):
        scalars = [Scalar.generate_invertible(seeded_rng(b"ct %d" % n))]
        hash_blind_batch([b"m"], DST, scalars)
    assert seen == [3] * 40
