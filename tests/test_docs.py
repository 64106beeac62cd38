import re

from exporter.families import FAMILIES

from .helpers import ROOT


def test_every_family_is_documented_and_every_documented_family_exists() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(jobfleet_[a-z_]+)`", text, re.MULTILINE))
    assert documented == set(FAMILIES)


def test_readme_leads_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text[text.index("```") : text.index("```", text.index("```") + 3)]
    assert "make demo" in first_block and "make test" in first_block
    assert "http://127.0.0.1:9760/metrics" in first_block
