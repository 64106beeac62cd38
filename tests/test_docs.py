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


def test_every_repository_path_the_deploy_guide_links_exists() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    links = re.findall(r"\]\((\.\./[^)#]+|[a-z]+\.md)\)", text)
    assert len(links) >= 10
    missing = [link for link in links if not (ROOT / "docs" / link).resolve().exists()]
    assert not missing
    for family in set(re.findall(r"\b(jobfleet_[a-z_]+?)(?:_bucket)?\b", text)):
        assert family in FAMILIES, f"deploy.md names {family}, which the exporter does not export"
