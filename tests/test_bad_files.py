"""CRM exports nobody cleaned: every broken file is a named InputError (exit code 3), never a
traceback, and a file of a million junk rows is read to the end and counted.

Each case goes through the library (``prepare_party`` and ``inspect_sources``); a few also go
through ``psi-run`` as a subprocess, as a user would meet them.
"""

from __future__ import annotations

import codecs
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from blindmatch.accounts.policy import Policy
from blindmatch.accounts.prepare import inspect_sources, prepare_party
from blindmatch.errors import InputError, PolicyError

HEADER = "Account ID,Account Name,Website,Type\n"
ROW = "001A,Acme Inc,acme.com,Customer - Direct\n"
POLICY = Policy.from_dict({"label": "Northwind", "keys": {"use": ["domain"]}}, source="<test>")


def _utf16_no_bom(big_endian: bool) -> bytes:
    return (HEADER + ROW).encode("utf-16-be" if big_endian else "utf-16-le")


#: name -> (file bytes, the message must contain, row, column) ; row/column None: not applicable
CASES: dict[str, tuple[bytes, str, int | None, str | None]] = {
    "utf16le-without-bom.csv": (
        _utf16_no_bom(False),
        "UTF-16 text without a byte-order mark",
        None,
        None,
    ),
    "utf16be-without-bom.csv": (
        _utf16_no_bom(True),
        "UTF-16 text without a byte-order mark",
        None,
        None,
    ),
    "utf16-with-bom-then-latin1.csv": (
        codecs.BOM_UTF16_LE + (HEADER + ROW).encode("utf-16-le") + "Café\n".encode("latin-1"),
        "not valid utf-16",
        None,
        None,
    ),
    "png.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "NUL byte", None, None),
    "random.csv": (random.Random(7).randbytes(4096), "binary file", None, None),
    "nul-in-a-cell.csv": (
        (HEADER + "001A,Ac\x00me,acme.com,Customer\n").encode(),
        "NUL byte at offset 44",
        None,
        None,
    ),
    "xlsx-renamed.csv": (b"PK\x03\x04" + bytes(60), "ZIP archive", None, None),
    "gzip.csv": (b"\x1f\x8b\x08\x00" + bytes(60), "gzip", None, None),
    "missing-header.csv": (b"acme.com,12345\nglobex.com,67890\n", "no header", 1, None),
    "duplicated-header.csv": (
        b"Website,Type,website\na.com,Customer,b.com\n",
        "duplicated column name",
        1,
        "website",
    ),
    "blank-header-cell.csv": (
        b"Website,,Type\na.com,x,Customer\n",
        "header cell 2 is blank",
        1,
        None,
    ),
    "empty.csv": (b"", "file is empty", None, None),
    "only-blank-lines.csv": (b"\r\n\n  \n", "no header", None, None),
    "header-only.csv": (HEADER.encode(), "no data rows", None, None),
    "header-and-blank-lines.csv": ((HEADER + "\n\n").encode(), "no data rows", None, None),
    "5000-columns.csv": (
        (",".join(f"Col {i}" for i in range(5000)) + "\n" + ",".join(["x"] * 5000) + "\n").encode(),
        "5000 columns; at most 1000",
        1,
        None,
    ),
    "row-of-5000-cells.csv": (
        (HEADER + ROW.strip() + ",x" * 4996 + "\n").encode(),
        "row has 5000 cells",
        2,
        None,
    ),
    "2mb-cell.csv": (
        (HEADER + "001A," + "A" * 2_000_000 + ",acme.com,Customer\n").encode(),
        "larger than 64 KiB",
        2,
        "Account Name",
    ),
    "2mb-quoted-cell.csv": (
        (HEADER + '001A,Acme,"' + "w" * 2_000_000 + '",Customer\n').encode(),
        "larger than 64 KiB",
        2,
        "Website",
    ),
    "100kb-cell.csv": (
        (HEADER + "001A,Acme,acme.com," + "T" * 100_000 + "\n").encode(),
        "larger than 64 KiB",
        2,
        "Type",
    ),
    "unclosed-quote.csv": (
        (HEADER + '001A,"Acme,acme.com,Customer\n' + ROW * 3).encode(),
        "never closed",
        2,
        None,
    ),
    "unclosed-quote-runaway.csv": (
        (HEADER + '001A,"Acme,acme.com,Customer\n' + ROW * 40_000).encode(),
        "a quote that is never closed",
        2,
        "Account Name",
    ),
    "jsonl-huge-number.jsonl": (
        b'{"Website": "a.com", "Account ID": ' + b"9" * 5000 + b"}\n",
        "number too long",
        1,
        None,
    ),
    "jsonl-deep.jsonl": (
        b'{"Website": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n",
        "nested too deeply",
        1,
        None,
    ),
    "jsonl-array-file.jsonl": (b'[{"Website": "a.com"}]\n', "not JSON Lines", 1, None),
    "jsonl-garbage.jsonl": (b'{"Website": "a.com"}\n{"Website": tru\n', "not valid JSON", 2, None),
    "fake.parquet": (b"PAR1 this is not parquet PAR1", "Parquet", None, None),
}


def _write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(CASES[name][0])
    return path


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("via", ["prepare_party", "inspect_sources"])
def test_a_broken_file_is_a_located_input_error(tmp_path: Path, name: str, via: str) -> None:
    _, needle, row, column = CASES[name]
    path = _write(tmp_path, name)
    call: Callable[[], object] = (
        (lambda: prepare_party([path], POLICY))
        if via == "prepare_party"
        else (lambda: inspect_sources([path]))
    )
    started = time.perf_counter()
    with pytest.raises(InputError) as info:
        call()
    assert time.perf_counter() - started < 10
    err = info.value
    assert not isinstance(err, PolicyError), err
    assert needle in str(err), str(err)
    assert err.file is not None and Path(err.file).name == name, str(err)
    assert str(err).startswith(str(path)), str(err)
    if row is not None:
        assert err.row == row, str(err)
    if column is not None:
        assert err.column == column, str(err)
    assert str(err).isprintable()


def test_a_file_without_its_header_row_is_an_input_error_not_a_policy_error(
    tmp_path: Path,
) -> None:
    """Its first row (a company) is taken as column names; no key column is found. The
    file, not the policy, is at fault: InputError (exit code 3), naming the clue."""
    path = tmp_path / "no-header.csv"
    path.write_text("Acme Inc,acme.com,Customer\nGlobex,globex.com,Prospect\n", encoding="utf-8")
    for policy in (POLICY, Policy.from_dict({"label": "X"}, source="<test>")):
        with pytest.raises(InputError) as info:
            prepare_party([path], policy)
        assert not isinstance(info.value, PolicyError)
        assert info.value.row == 1 and "'acme.com', which looks like a value" in str(info.value)
    report = inspect_sources([path])  # a report, not a run: the clue is a warning
    assert any("may lack its header row" in w for w in report.warnings)


def test_a_url_with_a_path_in_the_first_row_is_a_header_clue(tmp_path: Path) -> None:
    path = tmp_path / "no-header.csv"
    path.write_text(
        "0015g0000023HCRAA2,Hollowscale Foods AG,https://hollowscalefoods.com/about,Prospect\n"
        "0015g0000023HCSAA2,Globex,globex.com,Customer\n",
        encoding="utf-8",
    )
    report = inspect_sources([path])
    assert any(
        "may lack its header row" in w and "hollowscalefoods.com/about" in w
        for w in report.warnings
    )


def test_a_utf8_file_with_a_stray_windows_1252_row_is_read_not_refused(tmp_path: Path) -> None:
    """Mixed encodings (a UTF-8 export with one row pasted from Excel): every row arrives, each
    byte decoded the way it was written, and a warning points at the first odd line."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        HEADER.encode()
        + "001A,Müller GmbH,mueller.de,Customer\n".encode()
        + "001B,Café Zentral,cafe.at,Customer\n".encode("cp1252")
    )
    report = inspect_sources([path])
    assert report.rows == 2 and report.sources[0].encoding == "utf-8+cp1252"
    assert any(
        "mixed.csv: mixes UTF-8 with Windows-1252 text (from line 3 on" in w
        for w in report.warnings
    )
    prepared = prepare_party([path], POLICY)
    assert prepared.diagnostics.rows == 2
    assert any("mixes UTF-8 with Windows-1252" in w for w in prepared.diagnostics.warnings)


def test_a_header_only_file_among_others_is_a_warning(tmp_path: Path) -> None:
    empty = tmp_path / "empty-export.csv"
    empty.write_text(HEADER, encoding="utf-8")
    full = tmp_path / "accounts.csv"
    full.write_text(HEADER + ROW, encoding="utf-8")
    prepared = prepare_party([empty, full], POLICY)
    assert prepared.diagnostics.rows == 1
    assert any("empty-export.csv: no data rows" in w for w in prepared.diagnostics.warnings)
    with pytest.raises(InputError, match="no data rows in"):
        prepare_party([empty, tmp_path / "empty-export.csv"], POLICY)


def test_a_million_junk_rows_are_read_and_counted(tmp_path: Path) -> None:
    """1,000,000 rows whose only key is 'n/a': read to the end, every row counted as junk,
    no record, no error (about 9 s on a 2024 laptop core; the limit leaves room for CI)."""
    n = 1_000_000
    path = tmp_path / "junk.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        fh.writelines(f"{i},n/a,n/a,Customer - Direct\n" for i in range(n))
    started = time.perf_counter()
    prepared = prepare_party([path], POLICY)
    elapsed = time.perf_counter() - started
    diag = prepared.diagnostics
    assert diag.rows == n
    assert diag.rows_without_key == {"junk": n}
    assert diag.cells["domain"] == {"junk": n}
    assert prepared.records == [] and diag.records == 0
    assert "no row has a usable key" in diag.warnings
    assert elapsed < 60, f"{elapsed:.1f} s for {n:,} rows"


# -- the command line --------------------------------------------------------------------------


def _psi_run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BLINDMATCH_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    "name",
    [
        "png.csv",
        "utf16le-without-bom.csv",
        "2mb-cell.csv",
        "header-only.csv",
        "jsonl-huge-number.jsonl",
    ],
)
def test_psi_run_inspect_exits_3_with_a_located_message(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name)
    result = _psi_run("inspect", str(path))
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"psi-run: input error: {path}"), result.stderr
    assert CASES[name][1] in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_psi_run_party_stops_on_a_bad_input_before_anything_else(tmp_path: Path) -> None:
    from blindmatch.protocol import seeded_rng
    from blindmatch.transport import PairingCode

    code = PairingCode.generate(seeded_rng(b"bad files")).reveal()
    path = _write(tmp_path, "header-only.csv")
    out = tmp_path / "out"
    for args in (
        ["--role", "sender", "--listen", "127.0.0.1:0", "--code", code],
        ["offline", "--role", "sender", "--state", str(tmp_path / "state"), "--code", code],
    ):
        result = _psi_run(
            *args, "--input", str(path), "--label", "X", "--out-dir", str(out), "--yes"
        )
        assert result.returncode == 3, result.stderr
        assert "no data rows" in result.stderr and "Traceback" not in result.stderr
        assert code not in result.stderr + result.stdout
        assert not out.exists() and not (tmp_path / "state").exists()


def test_psi_run_refuses_a_policy_that_is_not_a_policy_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "header-only.csv")
    huge = tmp_path / "policy.toml"
    huge.write_bytes(b"# " + b"x" * (2 * 1024 * 1024))
    result = _psi_run("inspect", str(path), "--policy", str(huge))
    assert result.returncode == 4, result.stderr
    assert "not a policy file" in result.stderr and "Traceback" not in result.stderr
