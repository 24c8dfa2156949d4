"""The partners file of ``psi-run map``: every mistake named with its file and line, at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from blindmatch.errors import BlindmatchError, UsageError
from blindmatch.workflow import load_partners
from blindmatch.workflow.partners import (
    TRANSPORTS,
    MailboxSettings,
    TlsSettings,
    WormholeSettings,
    partner_name_problem,
)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partners.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_gives_one_spec_per_partner(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '[[partners]]\nname = "globex"\nrole = "receiver"\nconnect = "10.0.0.5:7337"\n'
        'code_env = "GLOBEX_CODE"\npolicy = "globex.toml"\n\n'
        '[[partners]]\nname = "initech"\nrole = "sender"\nlisten = "[::1]:0"\n',
    )
    globex, initech = load_partners(path)
    assert (globex.name, globex.role, globex.transport) == ("globex", "receiver", "connect")
    assert globex.address == ("10.0.0.5", 7337)
    assert globex.code_env == "GLOBEX_CODE"
    assert globex.policy == tmp_path / "globex.toml"  # relative to the partners file
    assert globex.line == 1 and globex.index == 1
    assert (initech.transport, initech.address, initech.line) == ("listen", ("::1", 0), 8)
    assert initech.policy is None and initech.code_env is None and initech.tls is None
    assert (
        initech.where(path, "listen") == f"{path}, line 11 (partner #2 'initech', field 'listen')"
    )


def test_wormhole_mailbox_and_tls_entries_take_the_two_party_options(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '[[partners]]\nname = "acme"\nrole = "sender"\nwormhole = true\n'
        'code_env = "ACME_CODE"\n\n'
        '[[partners]]\nname = "own"\nrole = "receiver"\nwormhole = "ws://wh.example:4000/v1"\n'
        'wormhole_transit = "tcp:wh.example:4001"\nwormhole_relay_only = true\ntimeout = 600\n\n'
        '[[partners]]\nname = "box"\nrole = "receiver"\nmailbox = "shared/box"\n'
        'mailbox_poll = 0.5\nstate = "state/box.state"\n'
        '[partners.mailbox_options]\nusername = "northwind"\nport = 2222\n\n'
        '[[partners]]\nname = "pki"\nrole = "sender"\nlisten = "127.0.0.1:0"\n'
        'tls_cert = "our.pem"\ntls_key = "our.key"\ntls_ca = "/etc/ca.pem"\n'
        'tls_pin = "spki-sha256:' + "ab" * 32 + '"\n',
    )
    acme, own, box, pki = load_partners(path)
    assert acme.transport == "wormhole" and acme.role == "sender"
    assert acme.address == WormholeSettings()  # the public servers, as --wormhole alone
    assert own.address == WormholeSettings(
        server="ws://wh.example:4000/v1", transit="tcp:wh.example:4001", relay_only=True
    )
    assert own.timeout == 600.0
    assert box.transport == "mailbox" and isinstance(box.address, MailboxSettings)
    assert box.address.url == str(tmp_path / "shared/box")  # a folder: next to this file
    assert box.address.options == {"username": "northwind", "port": 2222}
    assert box.address.poll == 0.5 and box.address.state == tmp_path / "state/box.state"
    assert box.where(path, "mailbox_options") == (
        f"{path}, line 21 (partner #3 'box', field 'mailbox_options')"
    )
    assert pki.tls == TlsSettings(
        cert=tmp_path / "our.pem", key=tmp_path / "our.key", ca=Path("/etc/ca.pem"),
        pins=("spki-sha256:" + "ab" * 32,),
    )  # fmt: skip
    assert pki.code_env is None


def test_secrets_of_a_mailbox_entry_stay_out_of_its_repr(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '[[partners]]\nname = "box"\nrole = "sender"\n'
        'mailbox = "sftp://northwind:hunter2@files.example/psi"\n'
        'mailbox_options = { password = "s3cr3t" }\n',
    )
    (box,) = load_partners(path)
    assert box.address.options == {"password": "s3cr3t"}
    assert "hunter2" not in repr(box) and "s3cr3t" not in repr(box)


def test_every_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "[[partners]]\n"  # 1
        'name = "globex"\n'  # 2
        'role = "receiver"\n'  # 3
        'conect = "10.0.0.5:7337"\n'  # 4: typo
        "\n"
        "[[partners]]\n"  # 6
        'name = "ok"\n'
        'role = "receiver"\n'
        'listen = "0.0.0.0:7337"\n'  # 9: a receiver does not listen
        'connect = "h:1"\n'  # 10: and not both
        "\n"
        "[[partners]]\n"  # 12
        'name = "../etc"\n'  # 13
        'role = "boss"\n'  # 14
        'wormhole = "7-guitar-revenge"\n'  # 15: a code, not a server
        'code_env = "1BAD"\n'  # 16
        "\n"
        "[[partners]]\n"  # 18
        'name = "w"\n'
        'role = "sender"\n'
        "wormhole = true\n"
        'wormhole_transit = "relay.example"\n'  # 22: no tcp:HOST:PORT
        'tls_cert = "our.pem"\n'  # 23: TLS is for listen/connect
        "mailbox_poll = 5\n"  # 24: a mailbox option
        "\n"
        "[[partners]]\n"  # 26
        'name = "t"\n'
        'role = "sender"\n'
        'listen = "127.0.0.1:0"\n'
        'tls_cert = "our.pem"\n'  # 30: key and CA missing
        "tls_pin = 7\n"  # 31
        'code_env = "T_CODE"\n'  # 32: no code with TLS
        "timeout = 0\n"  # 33
        "\n"
        "[[partners]]\n"  # 35
        'name = "m"\n'
        'role = "receiver"\n'
        'mailbox = "sftp://files.example/psi"\n'
        'mailbox_poll = "often"\n'  # 39
        "[partners.mailbox_options]\n"  # 40
        "nested = { a = 1 }\n",
    )
    with pytest.raises(UsageError) as info:
        load_partners(path)
    text = str(info.value)
    for expected in [
        "line 4 (partner #1 'globex', field 'conect'): unknown key 'conect'",
        "line 1 (partner #1 'globex'): needs exactly one of listen, connect, wormhole, mailbox",
        "line 10 (partner #2 'ok', field 'connect'): give exactly one of listen, connect",
        "line 13 (partner #3, field 'name'): partner name '../etc'",
        "line 14 (partner #3, field 'role'): role must be 'sender' or 'receiver'",
        "line 15 (partner #3, field 'wormhole'): expected a ws:// or wss:// URL",
        "line 16 (partner #3, field 'code_env'): code_env '1BAD' is not a variable name",
        "line 22 (partner #4 'w', field 'wormhole_transit'): expected the transit relay as "
        "tcp:HOST:PORT",
        "line 23 (partner #4 'w', field 'tls_cert'): 'tls_cert' applies to listen and connect "
        "only, not to wormhole",
        "line 24 (partner #4 'w', field 'mailbox_poll'): 'mailbox_poll' applies to mailbox only",
        "line 30 (partner #5 't', field 'tls_cert'): TLS needs all of tls_cert, tls_key and "
        "tls_ca; missing: tls_key, tls_ca",
        "line 31 (partner #5 't', field 'tls_pin'): must be a pin or a list of pins",
        "line 32 (partner #5 't', field 'code_env'): code_env is not used with TLS",
        "line 33 (partner #5 't', field 'timeout'): 'timeout' must be a positive number",
        "line 39 (partner #6 'm', field 'mailbox_poll'): 'mailbox_poll' must be a positive",
        "line 40 (partner #6 'm', field 'mailbox_options'): storage option 'nested' must be a "
        "single value",
    ]:
        assert f"{path}, {expected}" in text, expected
    assert text.startswith("16 problems in the partners file")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [[partners]] tables"),
        ("partners = 3\n", "no [[partners]] tables"),
        ("[partners]\nname = 'x'\n", "no [[partners]] tables"),
        ("[[partner]]\nname = 'x'\n", "unknown top-level key 'partner'"),
        ("[[partners]\n", "not valid TOML"),
        ("[[partners]]\nrole = 'sender'\nlisten = ':1'\n", "line 1 (partner #1): no 'name'"),
        ("[[partners]]\nname = 'a'\nlisten = ':1'\n", "line 1 (partner #1 'a'): no 'role'"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nlisten = 'nowhere'\n",
         "line 4 (partner #1 'a', field 'listen'): expected HOST:PORT, got 'nowhere'"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nconnect = 'h:1'\n",
         "line 4 (partner #1 'a', field 'connect'): a sender cannot connect"),
        ("[[partners]]\nname = 7\nrole = 'sender'\nlisten = ':1'\n",
         "line 2 (partner #1, field 'name'): 'name' must be a non-empty string"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nlisten = 1\n",
         "line 4 (partner #1 'a', field 'listen'): expected HOST:PORT as a string, got a number"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nlisten = ':1'\n"
         "[[partners]]\nname = 'A'\nrole = 'sender'\nlisten = ':2'\n",
         "line 6 (partner #2 'A', field 'name'): partner name 'A' is used twice (first at "
         "line 1, partner #1)"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nlisten = ':1'\n"
         "[[partners]]\nname = 'b'\nrole = 'sender'\nlisten = '127.0.0.1:1'\n",
         "(partner #2 'b', field 'listen'): listens on the same address as 'a'"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nmailbox = 'box'\n"
         "[[partners]]\nname = 'b'\nrole = 'receiver'\nmailbox = 'box/'\n",
         "line 8 (partner #2 'b', field 'mailbox'): uses the same mailbox as 'a' (line 4); one "
         "folder per run, or the messages would mix"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nmailbox = 'x'\nstate = 's'\n"
         "[[partners]]\nname = 'b'\nrole = 'receiver'\nmailbox = 'y'\nstate = 's'\n",
         "line 10 (partner #2 'b', field 'state'): keeps its state in the same file as 'a' "
         "(line 5)"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nwormhole = false\n",
         "line 4 (partner #1 'a', field 'wormhole'): expected true (the public servers) or the "
         "mailbox server's URL, got a boolean"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nwormhole = 'wss://x'\n"
         "wormhole_relay_only = 'yes'\n",
         "line 5 (partner #1 'a', field 'wormhole_relay_only'): must be true or false"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nmailbox = ''\n",
         "line 4 (partner #1 'a', field 'mailbox'): expected a folder or a storage URL"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nmailbox = 'x'\nmailbox_options = 3\n",
         "line 5 (partner #1 'a', field 'mailbox_options'): must be a table of storage options"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nconnect = 'h:1'\ntls_pin = 'x'\n",
         "line 5 (partner #1 'a', field 'tls_pin'): TLS needs all of tls_cert, tls_key and "
         "tls_ca"),
    ],
)  # fmt: skip
def test_bad_files_say_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(UsageError, match=None) as info:
        load_partners(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="file not found"):
        load_partners(tmp_path / "missing.toml")
    with pytest.raises(UsageError, match="is a directory"):
        load_partners(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"[[partners]]\nname = '\xe9'\n")
    with pytest.raises(UsageError, match="must be UTF-8"):
        load_partners(bad)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "-x", "CON", "x" * 65, "a b", "é"])
def test_partner_names_must_be_safe_directory_names(name: str) -> None:
    assert partner_name_problem(name) is not None


def test_errors_are_blindmatch_errors(tmp_path: Path) -> None:
    with pytest.raises(BlindmatchError):
        load_partners(_file(tmp_path, "x = 1\n"))


def test_every_transport_has_a_runner() -> None:
    from blindmatch.cli.map import RUNNERS

    assert set(RUNNERS) == set(TRANSPORTS)


def test_the_readme_partners_file_is_a_good_one(tmp_path: Path) -> None:
    """The README's example is what a user copies: it must load, and say what it says."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Many partners.**") :]
    example = section[section.index("```toml\n") + 8 : section.index("```\n", 8)]
    path = _file(tmp_path, example)
    specs = load_partners(path)
    assert [(s.name, s.transport) for s in specs] == [
        ("globex", "connect"), ("initech", "listen"), ("umbrella", "wormhole"),
        ("hooli", "mailbox"),
    ]  # fmt: skip
    initech = specs[1]
    assert initech.tls is not None and initech.code_env is None
    # the error the README quotes points at the line it names
    assert f"`partners.toml, line {initech.lines['tls_pin']} (partner #2 'initech', field " \
        "'tls_pin')" in readme.replace("\n", " ")  # fmt: skip
    assert specs[3].timeout == 86400.0
