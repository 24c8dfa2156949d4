"""``psi-run demo``: both parties on the bundled sample CRMs, over real loopback sockets.

Northwind (a Salesforce export) listens; Globex (a HubSpot export) connects with the pairing
code Northwind generated, exactly as two companies would across the internet. Each side
prints what it learned and writes its outputs; the demo then checks both results against the
overlap the sample generator built into the data.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from pathlib import Path
from typing import Any

from ..accounts import sample
from ..accounts.policy import load_policy
from ..accounts.prepare import PreparedParty, prepare_party
from ..protocol import InlineEngine, OverlapResult, Role, Session
from ..transport import PairingCode, run_connector, run_listener
from .report import (
    ProgressBars,
    RunInfo,
    check_out_dir,
    render_matrix,
    shared_run_id,
    write_outputs,
)
from .runs import report_page

__all__ = ["run_demo"]

SIDES = {
    "northwind": ("northwind_salesforce.csv", "northwind_policy.toml", Role.SENDER),
    "globex": ("globex_hubspot.csv", "globex_policy.toml", Role.RECEIVER),
}


def _prepare(name: str) -> tuple[PreparedParty, str, Path]:
    data_name, policy_name, _ = SIDES[name]
    with sample.path(data_name) as data_path, sample.path(policy_name) as policy_path:
        policy = load_policy(policy_path)
        prepared = prepare_party([data_path], policy)
        # hashed like a real run's: the policy as parsed (see cli/party.py prepare)
        return prepared, policy.to_toml(), data_path


def _matches_expected(name: str, result: OverlapResult) -> bool:
    want: dict[str, Any] = sample.expected()["overlap"][name]
    counts = {p: dict(c) for p, c in result.counts.items()}
    return counts == want["counts"] and sorted(m.record_id for m in result.matches) == sorted(
        m["record_id"] for m in want["matches"]
    )


def run_demo(*, out_dir: Path, as_json: bool, quiet: bool) -> int:
    check_out_dir(out_dir)
    parties = {name: _prepare(name) for name in SIDES}
    code = PairingCode.generate()
    results: dict[str, OverlapResult] = {}
    failure: list[BaseException] = []
    port_ready = threading.Event()
    port: list[int] = []

    sessions: dict[str, Session] = {}

    def session_for(name: str) -> Session:
        prepared = parties[name][0]
        sessions[name] = Session(
            role=SIDES[name][2],
            terms=prepared.terms,
            records=prepared.records,
            engine=InlineEngine(),
        )
        return sessions[name]

    def on_bound(actual: int) -> None:
        port.append(actual)
        port_ready.set()

    def sender() -> None:
        try:
            results["northwind"] = run_listener(
                session_for("northwind"),
                host="127.0.0.1",
                port=0,
                code=code,
                timeout=60.0,
                on_event=ProgressBars(quiet=quiet, prefix="northwind: "),
                decide=lambda event: None,
                bound=on_bound,
            )
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            port_ready.set()

    thread = threading.Thread(target=sender, name="northwind", daemon=True)
    thread.start()
    port_ready.wait(30.0)
    if failure:
        raise failure[0]
    if not quiet:
        print(
            f"Northwind listens on 127.0.0.1:{port[0]}; Globex connects with the pairing code.",
            file=sys.stderr,
        )
    results["globex"] = run_connector(
        session_for("globex"),
        host="127.0.0.1",
        port=port[0],
        code=PairingCode.parse(code.reveal()),  # as the partner would type it
        timeout=60.0,
        on_event=ProgressBars(quiet=quiet, prefix="globex:    "),
        decide=lambda event: None,
    )
    thread.join(60.0)
    if failure:
        raise failure[0]

    summaries: dict[str, Any] = {}
    for name, result in results.items():
        prepared, policy_text, data_path = parties[name]
        result = dataclasses.replace(result, records_without_keys=prepared.records_without_keys)
        info = RunInfo(
            role=SIDES[name][2].value,
            policy_text=policy_text,
            inputs=[data_path],
            transport="pake",
            run_id=shared_run_id(sessions[name].agreement),
            records_in=prepared.diagnostics.rows,
            records_without_keys=prepared.records_without_keys,
        )
        written = write_outputs(out_dir / name, result, info, extend=report_page)
        results[name] = result
        summaries[name] = json.loads(written[0].read_text(encoding="utf-8"))
    ok = all(_matches_expected(name, result) for name, result in results.items())
    if as_json:
        print(json.dumps(summaries, indent=2, ensure_ascii=False))
    else:
        for result in results.values():
            print(f"\n== What {result.our_label} learned ==")
            print(render_matrix(result))
        print(
            f"\nOutputs: {out_dir / 'northwind'} and {out_dir / 'globex'} "
            "(summary.json, overlap.csv, matches.csv, run.json, report.html)"
        )
        verdict = "equal" if ok else "DO NOT equal"
        print(f"Both results {verdict} the overlap built into the sample data.")
    return 0 if ok else 1
