"""The partners file of ``psi-run map``: every mistake named with its file and line, at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from blindmatch.errors import BlindmatchError, UsageError
from blindmatch.workflow import load_partners
from blindmatch.workflow.partners import TRANSPORTS, partner_name_problem


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
    assert globex.line == 1
    assert (initech.transport, initech.address, initech.line) == ("listen", ("::1", 0), 8)
    assert initech.policy is None and initech.code_env is None


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
        'wormhole = "7-guitar-revenge"\n'  # 15: not yet
        'code_env = "1BAD"\n',  # 16
    )
    with pytest.raises(UsageError) as info:
        load_partners(path)
    text = str(info.value)
    assert f"{path}, line 4: unknown key 'conect'" in text
    assert f"{path}, line 1: partner 'globex' needs exactly one of listen, connect" in text
    assert f"{path}, line 10: give exactly one of listen, connect" in text
    assert f"{path}, line 13: partner name '../etc'" in text
    assert f"{path}, line 14: role must be 'sender' or 'receiver'" in text
    assert f"{path}, line 15: 'wormhole' is not supported by this version" in text
    assert f"{path}, line 16: code_env '1BAD' is not a variable name" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [[partners]] tables"),
        ("partners = 3\n", "no [[partners]] tables"),
        ("[partners]\nname = 'x'\n", "no [[partners]] tables"),
        ("[[partner]]\nname = 'x'\n", "unknown top-level key 'partner'"),
        ("[[partners]\n", "not valid TOML"),
        ("[[partners]]\nrole = 'sender'\nlisten = ':1'\n", "line 1: partner #1 has no 'name'"),
        ("[[partners]]\nname = 'a'\nlisten = ':1'\n", "line 1: partner 'a' has no 'role'"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nlisten = 'nowhere'\n",
         "line 4: listen: expected HOST:PORT, got 'nowhere'"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nconnect = 'h:1'\n",
         "line 4: a sender cannot connect"),
        ("[[partners]]\nname = 7\nrole = 'sender'\nlisten = ':1'\n",
         "line 2: 'name' must be a non-empty string"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nlisten = ':1'\n"
         "[[partners]]\nname = 'A'\nrole = 'sender'\nlisten = ':2'\n",
         "line 5: partner name 'A' is used twice (first at line 1)"),
        ("[[partners]]\nname = 'a'\nrole = 'sender'\nlisten = ':1'\n"
         "[[partners]]\nname = 'b'\nrole = 'sender'\nlisten = '127.0.0.1:1'\n",
         "partner 'b' listens on the same address as 'a'"),
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
