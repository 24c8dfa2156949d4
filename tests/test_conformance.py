"""The conformance kit: it passes on blindmatch, and it catches every kind of difference.

Each checker is run on a copy of the vector folder with one byte or field corrupted, and must
report exactly that case of exactly that file as failed (on every engine it checks). The
command line is run as a real process for its exit codes and JSON, foreign implementations are
real subprocesses speaking the JSON-lines protocol (one faithful, some broken), and the vector
files are looked for in a wheel built and installed into a fresh virtual environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blindmatch.conformance import (
    CHECKERS,
    PROTOCOL,
    VECTORS_DIR,
    ExternalImplementation,
    VectorSet,
    blindmatch_engines,
    checker_for,
    run_kit,
)
from blindmatch.conformance.checks import case_id
from blindmatch.conformance.command import EXIT_NONCONFORMANT
from blindmatch.crypto import native
from blindmatch.errors import ConformanceError, UsageError

ROOT = Path(__file__).resolve().parents[1]
Doc = dict[str, Any]


def _flip(hex_text: str, at: int | None = None) -> str:
    """The same hex string with one digit changed (in the middle unless ``at``)."""
    at = len(hex_text) // 2 if at is None else at
    digit = "0" if hex_text[at] != "0" else "1"
    return hex_text[:at] + digit + hex_text[at + 1 :]


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "vectors"
    shutil.copytree(VECTORS_DIR, folder)
    return folder


def _mutate(folder: Path, name: str, change: Callable[[Doc], None]) -> None:
    path = folder / name
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")


# -- blindmatch conforms -------------------------------------------------------------------------


def test_blindmatch_conforms_on_every_engine() -> None:
    engines = blindmatch_engines()
    assert [e.name for e in engines][0] == "python"
    assert [e.name for e in engines][1:] == [f"native-{p}" for p in native.cpu_paths()]
    report = run_kit(engines)
    assert report.ok, report.to_text()
    assert {f.checker.file for f in report.files} == {p.name for p in VECTORS_DIR.glob("*.json")}
    for file in report.files:
        checked = [r for r in file.results if r.skipped is None]
        assert checked and all(r.passed > 0 for r in checked), file.checker.file
        if file.checker.per_engine and "blindmatch" in file.checker.requires:
            assert len(checked) == len(engines), file.checker.file  # every engine ran
    normalization = next(f for f in report.files if f.checker.name == "normalization_bm-norm-1")
    assert normalization.results[0].passed >= 1000


def test_every_file_in_the_folder_has_a_checker_and_a_readme_entry() -> None:
    files = {p.name for p in VECTORS_DIR.glob("*.json")}
    assert files == {c.file for c in CHECKERS}
    readme = (VECTORS_DIR / "README.md").read_text(encoding="utf-8")
    headings = [line for line in readme.splitlines() if line.startswith("### ")]
    for name in files:
        assert any(f"`{name}`" in h for h in headings), f"the README does not document {name}"


def test_the_vectors_live_in_one_place() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    names = {c.file for c in CHECKERS}
    copies = sorted(p for p in tracked if Path(p).name in names)
    assert copies == sorted(f"src/blindmatch/conformance/vectors/{n}" for n in names)


# -- each checker catches a corrupted vector, naming file and case -------------------------------


def _norm(doc: Doc) -> None:
    case = next(c for c in doc["vectors"] if "key" in c and c["key_type"] == "domain")
    case["key"] = case["key"] + "x"


def _norm_id(doc: Doc) -> str:
    i, case = next(
        (i, c) for i, c in enumerate(doc["vectors"]) if "key" in c and c["key_type"] == "domain"
    )
    return case_id(i, case)


def _set(path: tuple[Any, ...], change: Callable[[Any], Any]) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = change(node[path[-1]])

    return apply


DBA = "Alphabet Inc. dba Google"  # a bm-norm/2 name with a further key, "google"

CORRUPTIONS: list[tuple[str, Callable[[Doc], None], Callable[[Doc], str], str]] = [
    ("normalization_bm-norm-1.json", _norm, _norm_id, "key: got"),
    ("normalization_bm-norm-2.json", _norm, _norm_id, "key: got"),
    (
        "normalization_bm-norm-2.json",
        lambda d: next(c for c in d["vectors"] if c["raw"] == DBA).pop("more"),
        lambda d: case_id(*next((i, c) for i, c in enumerate(d["vectors"]) if c["raw"] == DBA)),
        "more: got",
    ),
    (
        "normalization_bm-norm-2.json",
        _set(("record", 3, "record"), lambda r: r[:-1]),
        lambda d: "record#3",
        "record: got",
    ),
    (
        "expand_message_xmd_sha512.json",
        _set(("vectors", 3, "uniform_bytes"), _flip),
        lambda d: case_id(3, d["vectors"][3]),
        "uniform_bytes",
    ),
    (
        "h2c_curve25519_XMD_SHA-512_ELL2_RO.json",
        _set(("vectors", 2, "P", "x"), _flip),
        lambda d: case_id(2, d["vectors"][2]),
        "P.x",
    ),
    (
        "h2c_curve25519_XMD_SHA-512_ELL2_RO.json",
        _set(("vectors", 4, "u", 1), _flip),
        lambda d: case_id(4, d["vectors"][4]),
        "u: got",
    ),
    (
        "x25519_rfc7748.json",
        _set(("vectors", 1, "output"), lambda h: _flip(h, 0)),
        lambda d: "vector-2",
        "output",
    ),
    (
        "x25519_rfc7748.json",
        _set(("iterated", "after", "1000"), _flip),
        lambda d: "iterated-1000",
        "k after 1000 iterations",
    ),
    (
        "x25519_wycheproof.json",
        _set(("vectors", 0, "shared"), _flip),
        lambda d: f"tc{d['vectors'][0]['tcId']}",
        "shared",
    ),
    (
        "x25519_wycheproof.json",  # a low-order case no longer zero: refused but expected
        _set(("vectors", 6, "flags"), lambda f: [x for x in f if x != "ZeroSharedSecret"]),
        lambda d: f"tc{d['vectors'][6]['tcId']}",
        "blinding refused",
    ),
    (
        "cpace_x25519_sha512.json",
        _set(("Ya",), _flip),
        lambda d: "B.1.2-B.1.7-run",
        "Ya",
    ),
    (
        "cpace_x25519_sha512.json",
        _set(("gen_str_hash",), _flip),
        lambda d: "B.1.1-generator",
        "gen_str_hash: got",
    ),
    (
        "cpace_x25519_sha512.json",
        _set(("scalar_mult_vfy", "vectors", 6, "q"), _flip),
        lambda d: "B.1.10-u6",
        "q: got",
    ),
    ("channel_v2.json", _set(("mac_key",), _flip), lambda d: "mac_key", "mac_key"),
    (
        "channel_v2.json",
        _set(("records", "initiator", 2, "hex"), _flip),
        lambda d: "records.initiator[2]-CONFIRM",
        "records.initiator[2].hex",
    ),
    (
        "session_v1.json",
        _set(("messages", 5, "hex"), _flip),
        lambda d: f"message-5-{d['messages'][5]['from']}-{d['messages'][5]['type']}",
        "message.hex: differs from character",
    ),
    ("session_v1.json", _set(("agreement_id",), _flip), lambda d: "agreement_id", "agreement_id"),
    (
        "session_v1_wide.json",
        _set(("results", "receiver", "matches", 0, "record_id"), lambda r: r + "?"),
        lambda d: "result-receiver",
        "results.receiver.matches[0].record_id",
    ),
    (
        "session_v1_conflicts.json",
        _set(("results", "sender", "matches", 0, "record_id"), lambda r: r + "?"),
        lambda d: "result-sender",
        "results.sender.matches[0].record_id",
    ),
    ("tls_binding_v1.json", _set(("binding",), _flip), lambda d: "binding", "binding"),
    (
        "tls_binding_v1.json",
        _set(("server_pins", 1), lambda p: p.replace("spki", "cert")),
        lambda d: "server_pins",
        "server_pins[1]",
    ),
]


@pytest.mark.parametrize(
    ("name", "change", "expected_case", "field"),
    CORRUPTIONS,
    ids=[f"{c[0].removesuffix('.json')}-{c[3].split(':')[0]}" for c in CORRUPTIONS],
)
def test_a_corrupted_vector_fails_that_case_of_that_file(
    tmp_path: Path,
    name: str,
    change: Callable[[Doc], None],
    expected_case: Callable[[Doc], str],
    field: str,
) -> None:
    folder = _copy(tmp_path)
    _mutate(folder, name, change)
    case = expected_case(json.loads((folder / name).read_text(encoding="utf-8")))
    report = run_kit(blindmatch_engines(), vectors=VectorSet(folder), checkers=[checker_for(name)])
    assert not report.ok
    (file,) = report.files
    assert file.checker.file == name
    checked = [r for r in file.results if r.skipped is None]
    assert checked
    for result in checked:
        assert [c for c, _ in result.failures] == [case], (result.implementation, result.failures)
        assert field in result.failures[0][1], result.failures[0][1]
    text = report.to_text()
    assert f"FAIL {name}" in text and f"{name} [{checked[0].implementation}] {case}:" in text


def test_every_checker_has_a_corruption_test() -> None:
    assert {c.file for c in CHECKERS} == {name for name, *_ in CORRUPTIONS}


def test_a_missing_or_broken_file_fails_with_its_name(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "x25519_rfc7748.json").unlink()
    (folder / "channel_v2.json").write_text("{not json", encoding="utf-8")
    _mutate(folder, "expand_message_xmd_sha512.json", lambda d: d["vectors"][0].pop("msg"))
    checkers = [
        checker_for(n) for n in ("x25519_rfc7748", "channel_v2", "expand_message_xmd_sha512")
    ]
    engines = blindmatch_engines("python")
    report = run_kit(engines, vectors=VectorSet(folder), checkers=checkers)
    failures = {f.checker.file: f.results[0].failures for f in report.files}
    assert failures["x25519_rfc7748.json"] == [
        ("(file)", f"x25519_rfc7748.json: no such file in {folder}")
    ]
    ((where, why),) = failures["channel_v2.json"]
    assert where == "(file)" and why.startswith("channel_v2.json: not JSON (line 1")
    assert failures["expand_message_xmd_sha512.json"] == [("#0", "malformed case: no field 'msg'")]
    assert report.files[2].results[0].passed == 9


# -- the command line ----------------------------------------------------------------------------


def _kit(*args: str, module: str = "blindmatch.conformance") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_command_line_exit_codes_and_output(tmp_path: Path) -> None:
    ok = _kit("--only", "x25519_rfc7748", "--only", "tls_binding_v1.json")
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].startswith("ok   x25519_rfc7748.json  python: 4 passed, 0 failed")
    assert lines[1].startswith("ok   tls_binding_v1.json")
    assert lines[-1].startswith("CONFORMS: ")

    folder = _copy(tmp_path)
    _mutate(folder, "x25519_rfc7748.json", _set(("vectors", 0, "output"), _flip))
    bad = _kit("--vectors", str(folder), "--only", "x25519_rfc7748", "--json")
    assert bad.returncode == EXIT_NONCONFORMANT == 10
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["vectors"] == str(folder)
    (file,) = report["files"]
    assert file["file"] == "x25519_rfc7748.json" and not file["ok"]
    for result in file["results"]:
        assert result["failed"] == 1 and result["passed"] == 3
        assert result["failures"][0]["case"] == "vector-1"

    text = _kit("--vectors", str(folder), "--only", "x25519_rfc7748", "--engine", "python")
    assert text.returncode == 10
    assert "x25519_rfc7748.json [python] vector-1: output: got" in text.stdout
    assert text.stdout.splitlines()[-1].startswith("DOES NOT CONFORM: 3 cases passed, 1 failed")

    listing = _kit("--list", "--json")
    assert listing.returncode == 0
    assert {row["file"] for row in json.loads(listing.stdout)} == {c.file for c in CHECKERS}

    for args, message in (
        (("--only", "nope"), "no vector file 'nope'"),
        (("--vectors", str(tmp_path / "absent")), "not a directory"),
        (("--engine", "fortran"), "no engine 'fortran'"),
        (("--external", "x", "--engine", "python"), "--engine applies to blindmatch"),
        (("--external", str(tmp_path / "no-such-program")), "cannot start"),
    ):
        usage = _kit(*args)
        assert usage.returncode == 2, args
        assert message in usage.stderr, (args, usage.stderr)

    psi_run = _kit("conformance", "--only", "session_v1", module="blindmatch.cli.main")
    assert psi_run.returncode == 0, psi_run.stderr
    assert psi_run.stdout.startswith("ok   session_v1.json  python: 25 passed")
    psi_bad = _kit(
        "conformance", "--vectors", str(folder), "--only", "x25519_rfc7748",
        module="blindmatch.cli.main",
    )  # fmt: skip
    assert psi_bad.returncode == 10
    psi_usage = _kit("conformance", "--only", "nope", module="blindmatch.cli.main")
    assert psi_usage.returncode == 2 and "psi-run: error: no vector file" in psi_usage.stderr


# -- a foreign implementation over JSON lines ----------------------------------------------------

#: A foreign implementation as another team would write it, in its own process: it speaks only
#: the line protocol. It wraps blindmatch's functions (the test needs correct answers); BROKEN
#: selects a deliberate fault.
FOREIGN = textwrap.dedent(
    """
    import json, os, sys, time
    from blindmatch.accounts.keytypes import normalize_key
    from blindmatch.accounts.normalize import email_domain, record_keys
    from blindmatch.crypto import (expand_message_xmd, hash_to_curve, hash_to_field,
                                   map_to_curve_elligator2, x25519)
    from blindmatch.crypto.elligator import elligator2_map

    BROKEN = os.environ.get("BROKEN", "")
    le = lambda n: n.to_bytes(32, "little").hex()
    count = 0
    for line in sys.stdin:
        req = json.loads(line)
        op, count = req["op"], count + 1
        if BROKEN == "exit" and count == 40:
            sys.exit(3)
        if BROKEN == "garbage" and count == 3:
            print("this is not json", flush=True)
            continue
        if BROKEN == "stall" and op == "x25519" and count > 1:  # answers the first
            time.sleep(30)
        if op == "hello":
            assert req["protocol"] == "blindmatch-conformance/1"
            ops = ["normalize", "record_keys", "expand_message_xmd", "hash_to_field",
                   "map_to_curve", "elligator2_map", "hash_to_curve", "x25519"]
            if BROKEN == "no-x25519":
                ops.remove("x25519")
            out = {"result": ops}
        elif op == "normalize":
            kt, raw, profile = req["key_type"], req["raw"], req["profile"]
            got = email_domain(raw, profile=profile) if kt == "email_domain" else normalize_key(
                kt, raw, region=req["region"], gmail_rules=req["gmail_rules"], profile=profile)
            if BROKEN == "normalize" and kt == "domain" and got.value:
                out = {"result": {"key": raw.lower().strip()}}  # forgets the URL rules
            elif got.value is not None:
                out = {"result": {"key": got.value, "more": list(got.more)}}
            else:
                out = {"result": {"reason": got.reason}}
        elif op == "record_keys":
            keys = [tuple(k) for k in req["keys"]]
            out = {"result": [list(k) for k in record_keys(keys, req["profile"])]}
        elif op == "expand_message_xmd":
            out = {"result": expand_message_xmd(bytes.fromhex(req["msg"]),
                   bytes.fromhex(req["dst"]), req["length"]).hex()}
        elif op == "hash_to_field":
            u0, u1 = hash_to_field(bytes.fromhex(req["msg"]), bytes.fromhex(req["dst"]), 2)
            out = {"result": [le(u0), le(u1)]}
        elif op == "map_to_curve":
            x, y = map_to_curve_elligator2(int.from_bytes(bytes.fromhex(req["u"]), "little"))
            out = {"result": [le(x), le(y)]}
        elif op == "elligator2_map":
            out = {"result": elligator2_map(bytes.fromhex(req["u"])).hex()}
        elif op == "hash_to_curve":
            msg = bytes.fromhex(req["msg"])
            point = hash_to_curve(msg, bytes.fromhex(req["dst"]))
            if BROKEN == "h2c" and msg == b"abc":
                point = bytes([point[0] ^ 1]) + point[1:]
            out = {"result": point.hex()}
        elif op == "x25519":
            got = x25519(bytes.fromhex(req["scalar"]), bytes.fromhex(req["u"]))
            out = {"result": (got or bytes(32)).hex()}
            if BROKEN == "refuse" and got is None:
                out = {"error": "small-order point"}
        else:
            out = {"error": "unknown op " + op}
        print(json.dumps({"id": req["id"], **out}), flush=True)
    """
)


@pytest.fixture
def foreign(tmp_path: Path) -> Callable[[str], list[str]]:
    script = tmp_path / "foreign_impl.py"
    script.write_text(FOREIGN, encoding="utf-8")

    def command(broken: str = "") -> list[str]:
        return ["env", f"BROKEN={broken}", sys.executable, str(script)]

    return command


EXTERNAL_FILES = {
    "normalization_bm-norm-1.json",
    "normalization_bm-norm-2.json",
    "expand_message_xmd_sha512.json",
    "h2c_curve25519_XMD_SHA-512_ELL2_RO.json",
    "x25519_rfc7748.json",
    "x25519_wycheproof.json",
}


@pytest.mark.slow
def test_a_faithful_foreign_implementation_conforms(foreign: Callable[[str], list[str]]) -> None:
    impl = ExternalImplementation(foreign(""))
    assert impl.ops == {
        "normalize", "record_keys", "expand_message_xmd", "hash_to_field", "map_to_curve",
        "elligator2_map", "hash_to_curve", "x25519",
    }  # fmt: skip
    report = run_kit([impl])
    assert report.ok, report.to_text()
    for file in report.files:
        (result,) = file.results
        if file.checker.file in EXTERNAL_FILES:
            assert result.skipped is None and result.passed > 0 and not result.failures
        else:
            assert result.skipped == "no blindmatch", file.checker.file  # in-process only
    assert report.files[0].results[0].passed == len(
        VectorSet().load("normalization_bm-norm-1.json")["vectors"]
    )
    bm_norm_2 = VectorSet().load("normalization_bm-norm-2.json")
    assert report.files[1].results[0].passed == len(bm_norm_2["vectors"]) + len(bm_norm_2["record"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("broken", "file", "case", "error"),
    [
        ("h2c", "h2c_curve25519_XMD_SHA-512_ELL2_RO.json", "1:abc", "P.x: got"),
        ("normalize", "normalization_bm-norm-1.json", None, "key: got"),
        ("refuse", "x25519_wycheproof.json", "tc32", "the implementation refused"),
        ("stall", "x25519_rfc7748.json", "vector-2", "no answer within 1 s"),
    ],
)
def test_a_broken_foreign_implementation_is_reported(
    foreign: Callable[[str], list[str]], broken: str, file: str, case: str | None, error: str
) -> None:
    # 1 s between answers for the stall only, where it is the point: a loaded machine can
    # pause a healthy program longer than that
    impl = ExternalImplementation(foreign(broken), timeout=1 if broken == "stall" else 30)
    report = run_kit([impl], checkers=[checker_for(file)])
    assert not report.ok
    ((_, result),) = [(f, r) for f in report.files for r in f.results]
    assert result.failures, result
    cases = [c for c, _ in result.failures]
    if case is not None:
        assert case in cases
    assert all(error in why for _, why in result.failures), result.failures[:3]
    if broken == "normalize":
        assert 0 < len(cases) < result.passed  # only the domains the URL rules change


@pytest.mark.slow
def test_a_foreign_implementation_that_dies_or_babbles(
    foreign: Callable[[str], list[str]],
) -> None:
    report = run_kit([ExternalImplementation(foreign("exit"))], checkers=CHECKERS[:1])
    result = report.files[0].results[0]
    assert result.passed == 39  # each file runs its own process; it dies at request 40
    assert result.failures[0] == (
        case_id(39, VectorSet().load(CHECKERS[0].file)["vectors"][39]),
        "the implementation exited (end of its output)",
    )
    assert all("was stopped: the implementation exited" in e for _, e in result.failures[1:])

    xmd = [checker_for("expand_message_xmd_sha512")]
    report = run_kit([ExternalImplementation(foreign("garbage"))], checkers=xmd)
    result = report.files[0].results[0]
    assert result.passed == 2 and result.failures[0] == (
        "2:abcdef0123456789-32",
        "expand_message_xmd: the answer is not one JSON line: b'this is not json'",
    )
    assert len(result.failures) == 8  # the rest, not asked: the program was stopped

    impl = ExternalImplementation(foreign("no-x25519"))
    report = run_kit([impl], checkers=[checker_for("x25519_rfc7748")])
    assert report.files[0].results[0].skipped == "no x25519"
    assert not report.ok  # nothing was checked: that is not conformance


@pytest.mark.slow
def test_the_command_line_drives_a_foreign_implementation(
    foreign: Callable[[str], list[str]],
) -> None:
    good = _kit("--external", " ".join(foreign("")), "--json")
    assert good.returncode == 0, good.stdout[-2000:]
    files = {f["file"]: f for f in json.loads(good.stdout)["files"]}
    assert {n for n, f in files.items() if f["results"][0]["skipped"] is None} == EXTERNAL_FILES
    bad = _kit(
        "--external", " ".join(foreign("h2c")), "--only", "h2c_curve25519_XMD_SHA-512_ELL2_RO"
    )
    assert bad.returncode == 10
    assert "h2c_curve25519_XMD_SHA-512_ELL2_RO.json [external] 1:abc: P.x: got" in bad.stdout


def test_psi_run_documents_the_same_exit_code() -> None:
    from blindmatch.cli.exits import EXIT_CODES

    assert EXIT_CODES["nonconformant"] == EXIT_NONCONFORMANT
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| {EXIT_NONCONFORMANT} | `conformance`: a vector case failed" in readme


def test_the_protocol_name_and_handshake_errors(tmp_path: Path) -> None:
    assert PROTOCOL == "blindmatch-conformance/1"
    liar = tmp_path / "liar.py"
    liar.write_text(
        "import json, sys\nreq = json.loads(sys.stdin.readline())\n"
        'print(json.dumps({"id": req["id"], "result": ["normalize", "teleport"]}), flush=True)\n',
        encoding="utf-8",
    )
    with pytest.raises(ConformanceError, match=r"hello: unknown operations \['teleport'\]"):
        ExternalImplementation([sys.executable, str(liar)])
    psi_run = _kit(
        "conformance", "--external", f"{sys.executable} {liar}", module="blindmatch.cli.main"
    )
    assert psi_run.returncode == 2
    assert "psi-run: conformance kit: hello: unknown operations" in psi_run.stderr
    with pytest.raises(UsageError, match="needs a command"):
        ExternalImplementation([])


# -- the files ship in the wheel -----------------------------------------------------------------


@pytest.mark.slow
def test_the_vector_files_are_in_the_installed_wheel(tmp_path: Path) -> None:
    """A wheel built from this tree and installed into a fresh virtual environment holds every
    vector file and the README, byte for byte, and the kit runs from that installed copy."""
    env = {**os.environ, "BLINDMATCH_BUILD_NATIVE": "0", "PIP_NO_INPUT": "1"}
    tree = tmp_path / "tree"  # a copy, so the build leaves nothing in the work tree
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    for name in ("src", "csrc"):
        shutil.copytree(
            ROOT / name, tree / name, ignore=shutil.ignore_patterns("*.so", "__pycache__")
        )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(tree)],
        check=True, env=env, timeout=600, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("blindmatch-*.whl")
    shipped = {p.name for p in VECTORS_DIR.iterdir() if p.is_file()}
    with zipfile.ZipFile(wheel) as archive:
        inside = {
            Path(n).name
            for n in archive.namelist()
            if n.startswith("blindmatch/conformance/vectors/")
        }
    assert inside == shipped and "README.md" in inside

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True, env=env, timeout=300, capture_output=True,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    installed = Path(site) / "blindmatch" / "conformance" / "vectors"
    for name in shipped:
        assert (installed / name).read_bytes() == (VECTORS_DIR / name).read_bytes(), name
    # The installed package (its dependencies from this environment) checks itself.
    run = subprocess.run(
        [sys.executable, "-m", "blindmatch.conformance", "--engine", "python", "--json"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": site},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    assert json.loads(run.stdout)["vectors"] == str(installed.resolve())
