"""Writes the backend names into the Helm chart's values.schema.json, from the declared backends.

    python scripts/chart_schema.py          # rewrite the file
    python scripts/chart_schema.py --check  # exit 1 if the file differs from what this would write

The schema is written by hand but for one line, ``targets[].backend``'s enum: the names of the
backends the exporter declares (exporter/backends/registry.py), so that ``helm install``
refuses a backend the exporter does not know and accepts every one it does.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from exporter.backends import registry

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "helm" / "jobfleet-exporter" / "values.schema.json"
_BACKEND_ENUM = re.compile(r'("backend": \{ "enum": )\[[^\]]*\]')


def schema_text(current: str, names: tuple[str, ...]) -> str:
    """``current`` with the backend enum listing ``names``; ValueError if it has no such enum."""
    written, count = _BACKEND_ENUM.subn(lambda m: m.group(1) + json.dumps(list(names)), current)
    if count != 1:
        raise ValueError(f"{SCHEMA.name}: expected one backend enum, found {count}")
    backend = json.loads(written)["properties"]["config"]["properties"]["targets"]["items"]
    if backend["properties"]["backend"]["enum"] != list(names):
        raise ValueError(f"{SCHEMA.name}: the enum replaced is not targets[].backend's")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    current = SCHEMA.read_text()
    wanted = schema_text(current, registry.names())
    if wanted == current:
        return 0
    if args.check:
        print(f"{SCHEMA} is out of date: run python scripts/chart_schema.py", file=sys.stderr)
        return 1
    SCHEMA.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
