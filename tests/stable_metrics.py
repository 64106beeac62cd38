"""The metrics contract as a file: ``tests/data/stable-metrics.yaml`` lists every family the
exporter can emit, with its type, its labels (sorted; attribution labels, which the
configuration names, are not listed), its stability, and ``native: true`` on a histogram that
carries a native histogram beside its classic buckets. ``test_metrics_contract`` fails when
the declarations (``exporter/exposition/families.py``) and the file differ; ``make
stable-metrics`` rewrites the file from them, so that a change of the contract is a diff that
is reviewed, not a dashboard that breaks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

import exporter.backends  # noqa: F401  (its backends declare their families)
from exporter.exposition.declared import all_families

CONTRACT = Path(__file__).parent / "data" / "stable-metrics.yaml"
HEADER = (
    "# The metric families jobfleet-exporter emits, and the labels each carries (attribution\n"
    "# labels aside): a contract with every dashboard and alert built on them. Generated from\n"
    "# exporter/exposition/families.py by `make stable-metrics`; tests fail when they differ.\n"
)


def declared_contract() -> list[dict[str, Any]]:
    """The entries the declarations make, in declaration order."""
    return [
        {
            "name": family.name,
            "type": family.type,
            "labels": sorted(family.label_names),
            "stability": family.stability,
            **({"native": True} if family.native else {}),
        }
        for family in all_families().values()
    ]


def render(entries: list[dict[str, Any]]) -> str:
    body = yaml.safe_dump(entries, sort_keys=False, default_flow_style=None, width=100)
    return HEADER + body


def main(argv: list[str]) -> int:
    text = render(declared_contract())
    if argv == ["--write"]:
        CONTRACT.write_text(text)
        print(f"wrote {len(all_families())} families to {CONTRACT}")
        return 0
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
