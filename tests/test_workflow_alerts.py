"""Webhook alerts against a real HTTP server on loopback: what is posted, and failing safely."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from blindmatch.errors import BlindmatchError, UsageError
from blindmatch.workflow.alerts import AlertError, alert_body, check_url, post
from blindmatch.workflow.history import CellDelta, Deltas


class Hook:
    """A loopback HTTP server that records each POST and answers with ``status``."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.posts.append((self.path, dict(self.headers), body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/SECRETPATH"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def json(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.posts[index][2])  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.stop()


DELTAS = Deltas(
    partner="globex",
    previous_run_id="r1",
    previous_finished="2026-11-27T09:00:00+00:00",
    new=(("001A", "Prospects", "Customers"), ("<!channel>", "Prospects", "Customers & Co")),
    gone=(),
    cells=(
        CellDelta(ours="Prospects", theirs="Customers", count=9, previous=7, compared="records",
                  new=2),
        CellDelta(ours="Prospects", theirs="Pipeline", count=3, previous=3, compared="counts"),
    ),
)  # fmt: skip
SUMMARY = {"our_label": "Northwind", "partner_label": "Globex <Inc>", "run_id": "r2"}


def test_the_json_alert_arrives_with_the_new_overlaps(hook: Hook) -> None:
    body = alert_body("json", deltas=DELTAS, summary=SUMMARY, out_dir="/out/globex")
    assert post(hook.url, body) == 200
    path, headers, _ = hook.posts[0]
    assert path == "/services/T000/SECRETPATH"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    got = hook.json()
    assert got["format"] == "blindmatch-alert/1"
    assert (got["partner"], got["run_id"], got["new_pairs"], got["gone_pairs"]) == (
        "globex", "r2", 2, 0,
    )  # fmt: skip
    assert got["new"][0] == {
        "record_id": "001A", "our_population": "Prospects", "partner_population": "Customers",
    }  # fmt: skip
    # only cells that changed are listed
    assert [c["partner_population"] for c in got["changed_cells"]] == ["Customers"]


def test_the_slack_message_escapes_what_slack_would_act_on(hook: Hook) -> None:
    post(hook.url, alert_body("slack", deltas=DELTAS, summary=SUMMARY, out_dir="/o"))
    got = hook.json()
    assert set(got) == {"text"}
    text = got["text"]
    assert "*2 new*" in text and "Globex &lt;Inc&gt;" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "Customers &amp; Co" in text


def test_a_refusing_or_absent_server_is_an_alert_error_without_the_secret_path(hook: Hook) -> None:
    hook.status = 500
    with pytest.raises(AlertError, match="HTTP 500") as refused:
        post(hook.url, {"text": "x"})
    assert "SECRETPATH" not in str(refused.value)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AlertError, match="could not post the alert to 127.0.0.1") as gone:
        post(f"http://127.0.0.1:{port}/SECRETPATH", {"text": "x"}, timeout=5)
    assert "SECRETPATH" not in str(gone.value)
    assert isinstance(gone.value, BlindmatchError)


@pytest.mark.parametrize("url", ["ftp://x/y", "file:///etc/passwd", "hooks.slack.com/x", "http://"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(UsageError, match="--webhook must be an http"):
        check_url(url)
