"""Refresh the web UI's vendored front-end files from the npm registry.

Each package is fetched as the registry's tarball, checked against the registry's ``integrity``
(SHA-512), and the files carnet serves are copied to ``src/carnet/server/ui/static/vendor`` with
their SHA-256 written to ``MANIFEST.json`` (the test suite checks the files against it).

    python scripts/vendor_ui.py            # the pinned versions below
    python scripts/vendor_ui.py --check    # only verify the files against the manifest
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

#: package -> (version, files in the tarball -> name served under /static/vendor/)
PINS: dict[str, tuple[str, dict[str, str]]] = {
    "htmx.org": ("2.0.11", {"package/dist/htmx.min.js": "htmx.min.js"}),
    "uplot": (
        "1.6.32",
        {
            "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "package/dist/uPlot.min.css": "uPlot.min.css",
        },
    ),
}
REGISTRY = "https://registry.npmjs.org"
VENDOR = Path(__file__).resolve().parent.parent / "src" / "carnet" / "server" / "ui" / "static" / "vendor"


def fetch(package: str, version: str) -> bytes:
    """The package's tarball, checked against the registry's SHA-512 integrity."""
    with urllib.request.urlopen(f"{REGISTRY}/{package}/{version}", timeout=60) as r:
        meta = json.load(r)
    integrity: str = meta["dist"]["integrity"]
    with urllib.request.urlopen(meta["dist"]["tarball"], timeout=120) as r:
        data: bytes = r.read()
    algo, _, expected = integrity.partition("-")
    if algo != "sha512" or base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise SystemExit(f"{package}@{version}: the tarball does not match the registry's integrity")
    return data


def refresh() -> dict[str, dict[str, str]]:
    """Fetch every pinned package and write its files and the manifest."""
    manifest: dict[str, dict[str, str]] = {}
    for package, (version, files) in PINS.items():
        data = fetch(package, version)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member, name in files.items():
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise SystemExit(f"{package}@{version}: no file {member}")
                content = extracted.read()
                (VENDOR / name).write_bytes(content)
                manifest[name] = {
                    "package": package,
                    "version": version,
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def check() -> list[str]:
    """Files whose content differs from the manifest (empty when all match)."""
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text())
    return [
        name
        for name, entry in manifest.items()
        if hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() != entry["sha256"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="verify the vendored files only")
    args = parser.parse_args()
    if args.check:
        bad = check()
        print("vendored files match MANIFEST.json" if not bad else f"changed: {', '.join(bad)}")
        sys.exit(1 if bad else 0)
    for name, entry in refresh().items():
        print(f"{entry['package']}@{entry['version']} {name} sha256:{entry['sha256'][:16]}")


if __name__ == "__main__":
    main()
