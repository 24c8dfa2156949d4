#!/usr/bin/env python3
"""Dask scaling benchmark: n x n over loopback TCP with the curve work and the digest join on
a Dask cluster of 1, 2, ... workers.

Usage (from the repository root, with the dev venv and the ``dask`` and ``bench`` extras)::

    .venv/bin/python benchmarks/dask_scale.py --sizes 1000000 --workers 0 2 1
    .venv/bin/python benchmarks/dask_scale.py --sizes 10000000 --workers 2 --merge

For each (size, workers) it starts one ``distributed.LocalCluster`` of that many
single-threaded worker processes, and two party processes (``spawn``) that build their sets
(the data of ``run.py``: n random domains per side, ``--overlap`` shared, counts mode), connect
to the cluster through its scheduler address (``DaskEngine(scheduler=...)``, as
``psi-run --executor dask --dask-scheduler ADDRESS`` does), and run a session over loopback
TCP with a pairing code. Timed from the release of both ready parties to the later result.
``--workers 0`` is the local run the cluster is compared with: no cluster, each party on its
default engine (the native one, on every core).

Memory: each party process's peak RSS (``ru_maxrss``, exact) and each worker process's peak
RSS (``ru_maxrss``, read on the worker through ``Client.run`` at the end; the cluster is new
for every measurement, so it is this run's). Also the CPU other processes used meanwhile
(``foreign_cpu_s``), since the machine may be shared. Results: ``<out>/dask.json`` and
``<out>/dask.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import (  # noqa: E402 - the shared data and harness of run.py
    POPULATION,
    PhaseClock,
    _run_together,
    _wait_go,
    make_records,
    make_terms,
    make_values,
    tcp_session,
)


def _party(
    role: str,
    n: int,
    overlap: float,
    scheduler: str | None,
    code_text: str,
    ports: Any,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    from blindmatch.cluster import DaskEngine
    from blindmatch.crypto.engine import default_engine
    from blindmatch.transport import PairingCode

    code = PairingCode.parse(code_text)
    records = make_records(make_values("a" if role == "sender" else "b", n, overlap))
    terms = make_terms("A" if role == "sender" else "B")
    clock = PhaseClock()
    # workers 0: the local run to compare with, each party on its default (native) engine
    engine: Any = DaskEngine(scheduler=scheduler) if scheduler else default_engine()
    _wait_go(ready, go)
    cpu0 = time.process_time()
    start = time.monotonic()
    try:
        result = tcp_session(role, terms, records, engine, code, clock, ports)
    finally:
        if scheduler:
            engine.close()
    end = time.monotonic()
    out.put(
        {
            "role": role,
            "start": start,
            "end": end,
            "wall": end - start,
            "cpu_main": time.process_time() - cpu0,
            "marks": {k: v - start for k, v in clock.marks.items()},
            "count": result.counts[POPULATION][POPULATION],
            "peak_rss_party": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        }
    )


def _worker_peak() -> tuple[int, float]:
    """On a worker: its peak RSS in bytes and its CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def measure(n: int, workers: int, overlap: float) -> dict[str, Any]:
    """One pair on a fresh cluster of ``workers`` worker processes (0: no cluster, the
    parties' own native engines: the local run it is compared with)."""
    import multiprocessing as mp

    import distributed

    from blindmatch.transport import PairingCode

    cluster = client = None
    peaks: dict[str, tuple[int, float]] = {}
    try:
        scheduler = None
        if workers:
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )  # fmt: skip
            client = distributed.Client(cluster, set_as_default=False)
            scheduler = cluster.scheduler_address
        code = PairingCode.generate().reveal()
        ports = mp.get_context("spawn").Queue()
        wall, reports = _run_together(
            [
                (_party, ("sender", n, overlap, scheduler, code, ports)),
                (_party, ("receiver", n, overlap, scheduler, code, ports)),
            ]
        )
        if client is not None:
            peaks = client.run(_worker_peak)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    truth = round(overlap * n)
    counts = {r["count"] for r in reports}
    return {
        "n": n,
        "workers": workers,
        "wall": wall,
        "records_per_s": n / wall,
        "counts_ok": counts == {truth},
        "parties": reports,
        "worker_peak_rss": [p[0] for p in peaks.values()],
        "worker_cpu_s": [p[1] for p in peaks.values()],
        "foreign_cpu_s": max(r["foreign_cpu_s"] for r in reports),
        "cores": len(os.sched_getaffinity(0)),
    }


def render(rows: list[dict[str, Any]]) -> str:
    mb = 1 << 20
    lines = [
        "| n | workers | wall s | records/s | CPU s per party | CPU s per worker"
        " | peak RSS per party (MB) | peak RSS per worker (MB) | foreign CPU s | counts ok |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        who = r["workers"] or "local (native engine)"
        cpu_parties = " / ".join(f"{p['cpu_main']:.0f}" for p in r["parties"])
        cpu_workers = " / ".join(f"{c:.0f}" for c in r.get("worker_cpu_s", [])) or "-"
        parties = " / ".join(f"{p['peak_rss_party'] / mb:.0f}" for p in r["parties"])
        workers = " / ".join(f"{w / mb:.0f}" for w in r["worker_peak_rss"]) or "-"
        lines.append(
            f"| {r['n']:,} | {who} | {r['wall']:.1f} | {r['records_per_s']:,.0f} | "
            f"{cpu_parties} | {cpu_workers} | {parties} | {workers} | "
            f"{r['foreign_cpu_s']:.0f} | {r['counts_ok']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add to the rows already in <out>/dask.json (replacing same n and workers)",
    )
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for n in args.sizes:
        for w in args.workers:
            print(f"n={n:,} workers={w} ...", file=sys.stderr, flush=True)
            rows.append(measure(n, w, args.overlap))
            print(render(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.merge and (args.out / "dask.json").exists():
        new = {(r["n"], r["workers"]) for r in rows}
        old = json.loads((args.out / "dask.json").read_text())
        rows = [r for r in old if (r["n"], r["workers"]) not in new] + rows
        rows.sort(key=lambda r: (r["n"], r["workers"]))
    (args.out / "dask.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "dask.md").write_text(render(rows))
    print(render(rows))
    return 0 if all(r["counts_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
