"""DaskEngine on a real distributed.LocalCluster gives exactly the local engine's bytes.

Two worker processes, parts of a few elements and an index in several parts, so that every
batch really is split over the workers and every digest lookup really is a partitioned join.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_parallel import DST, _messages, _run, _scalars, _victim_error

from blindmatch.cluster import DaskEngine, DaskIndex
from blindmatch.errors import RemoteProtocolError
from blindmatch.protocol import InlineEngine
from blindmatch.protocol.digests import LocalIndex

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[DaskEngine]:
    engine = DaskEngine(workers=2, partitions=5, min_part=4, part=8)
    try:
        yield engine
    finally:
        engine.close()


def test_it_runs_on_worker_processes(dask_engine: DaskEngine) -> None:
    import os

    pids = set(dask_engine.client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    assert len(dask_engine._parts(37)) >= 4


def test_the_workers_run_the_native_engine_on_whole_parts(dask_engine: DaskEngine) -> None:
    """The 1M-record cost is the curve work: each worker does it in C, one call per part."""
    from blindmatch.cluster import _native_engine
    from blindmatch.crypto import native

    assert native.available()  # the test extra builds it; a silent Python fallback is slow
    kinds = set(dask_engine.client.run(lambda: type(_native_engine()).__name__).values())
    if native.engine_preference() == "native":
        assert kinds == {"NativeEngine"}
        assert type(dask_engine._local).__name__ == "NativeEngine"
    else:  # BLINDMATCH_ENGINE=python: the workers obey it too (the fallback's whole-suite run)
        assert kinds == {"NoneType"}
        assert type(dask_engine._local).__name__ != "NativeEngine"
    assert [stop - start for start, stop in DaskEngine(client=dask_engine.client)._parts(8192)] == [
        4096,
        4096,
    ]


def test_hash_blind_and_blind_are_identical(dask_engine: DaskEngine) -> None:
    msgs = _messages(53)
    scalars = _scalars(b"a", b"b")
    inline = InlineEngine()
    assert dask_engine.hash_blind(msgs, DST, scalars) == inline.hash_blind(msgs, DST, scalars)
    points = inline.hash_blind(msgs, DST, scalars[:1])[0]
    assert dask_engine.blind(points, scalars, message="m") == inline.blind(
        points, scalars, message="m"
    )


def test_a_session_is_byte_identical_on_dask(dask_engine: DaskEngine) -> None:
    inline = _run(InlineEngine())
    on_dask = _run(dask_engine)
    assert on_dask[2] == inline[2]  # every message, byte for byte
    assert on_dask[0] == inline[0] and on_dask[1] == inline[1]
    sender = inline[0]
    assert sender.counts["Prospects"]["Prospects"] > 0 and sender.matches  # it did match


def test_the_index_lives_in_parts_on_the_workers(dask_engine: DaskEngine) -> None:
    index = dask_engine.digest_index()
    local = LocalIndex()
    assert isinstance(index, DaskIndex)
    chunks = [bytes([i, j]) * 8 for i in range(40) for j in range(3)]
    for at in range(0, len(chunks), 25):
        blob = b"".join(chunks[at : at + 25])
        index.add(blob, where="chunk")
        local.add(blob, where="chunk")
    assert len(index) == len(local) == 120
    sizes = [part.size().result() for part in index._parts]
    assert sum(sizes) == 120 and all(sizes) and max(sizes) < 120
    probe = b"".join(chunks[::7]) + b"\xff" * 16
    assert index.lookup(probe) == local.lookup(probe)
    positions = [119, 0, 26, 25, 24, 50, 3]
    assert index.digests_at(positions) == local.digests_at(positions)
    with pytest.raises(RemoteProtocolError, match="chunk: element 2 repeats one sent earlier"):
        index.add(b"\xee" * 16 + b"\xef" * 16 + chunks[5] + chunks[6], where="chunk")


def test_a_repeat_within_a_chunk_is_named_like_the_local_index(dask_engine: DaskEngine) -> None:
    blob = b"".join(bytes([i]) * 16 for i in (9, 8, 7, 8, 9))
    errors = []
    for index in (dask_engine.digest_index(), LocalIndex()):
        with pytest.raises(RemoteProtocolError) as caught:
            index.add(blob, where="w")
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "element 3 repeats" in errors[0]


@pytest.mark.parametrize("at", [1, 39])
def test_a_session_names_the_same_bad_point_on_dask(dask_engine: DaskEngine, at: int) -> None:
    def small_order(points: bytes) -> bytes:
        return points[: 32 * at] + (1).to_bytes(32, "little") + points[32 * (at + 1) :]

    assert _victim_error(dask_engine, small_order) == _victim_error(InlineEngine(), small_order)


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    from blindmatch.errors import UsageError

    with pytest.raises(UsageError, match="could not reach the Dask scheduler at tcp://127.0.0.1:9"):
        DaskEngine(scheduler="tcp://127.0.0.1:9", connect_timeout=2)


def test_an_index_outlives_the_collection_of_its_futures(dask_engine: DaskEngine) -> None:
    """The scheduler forgets an actor whose future nobody holds: the index holds them."""
    import gc
    import time

    index = dask_engine.digest_index()
    keys = {part.key for part in index._parts}
    gc.collect()
    time.sleep(1.0)  # the client tells the scheduler about released futures asynchronously

    def held(dask_scheduler: object) -> int:
        return len(keys & set(dask_scheduler.tasks))  # type: ignore[attr-defined]

    assert dask_engine.client.run_on_scheduler(held) == len(keys)
    index.add(b"\x01" * 16, where="w")
    assert index.lookup(b"\x01" * 16) == [0]
