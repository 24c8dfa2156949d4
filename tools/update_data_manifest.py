"""Refresh the hashes and sizes in src/blindmatch/accounts/data/MANIFEST.json.

Why: every data file of a normalization profile is named in the manifest with its SHA-256, so
another implementation (and a partner) can check it reads the very same bytes. After editing a
list file, run ``python tools/update_data_manifest.py``; it rewrites "sha256" and "bytes" of
every file entry and refuses a file that no entry describes (write its version, source and use
by hand first). A profile's files must never change once published: a changed list is a new
file under a new profile.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "src" / "blindmatch" / "accounts" / "data"


def main() -> int:
    path = DATA / "MANIFEST.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    shipped = {
        p.name
        for p in DATA.iterdir()
        if p.is_file() and p.name not in ("MANIFEST.json", "__init__.py")
    }
    unknown = sorted(shipped - set(manifest["files"]))
    if unknown:
        print(f"no manifest entry for {', '.join(unknown)}", file=sys.stderr)
        return 1
    for name, entry in manifest["files"].items():
        body = (DATA / name).read_bytes()
        entry["sha256"] = hashlib.sha256(body).hexdigest()
        entry["bytes"] = len(body)
    for profile, roles in manifest["profiles"].items():
        missing = sorted(set(roles.values()) - set(manifest["files"]))
        if missing:
            print(f"{profile} names unknown files {', '.join(missing)}", file=sys.stderr)
            return 1
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
