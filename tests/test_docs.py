import re
from pathlib import Path

import pytest

from exporter.backends import registry
from exporter.exposition.declared import families

from .helpers import ROOT


def test_every_family_is_documented_and_every_documented_family_exists() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(jobfleet_[a-z_]+)`", text, re.MULTILINE))
    assert documented == set(families())


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
        assert family in families(), f"deploy.md names {family}, which the exporter does not export"


BACKEND_PAGES = sorted(page.name for page in (ROOT / "docs" / "backends").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    """The page's links into the repository (no URL, no bare anchor), anchors dropped."""
    links = (link.split("#")[0] for link in LINK.findall(page.read_text()))
    return [link for link in links if link and "://" not in link and not link.startswith("mailto:")]


@pytest.mark.parametrize(
    "page",
    ["README.md", *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]
    + [f"docs/backends/{name}" for name in BACKEND_PAGES]
    + ["tests/data/README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md"],
)
def test_every_repository_link_resolves(page: str) -> None:
    path = ROOT / page
    missing = [link for link in relative_links(path) if not (path.parent / link).exists()]
    assert not missing, f"{page} links to missing {missing}"


def test_every_backend_has_a_page_linked_from_the_readme_and_the_metric_reference() -> None:
    readme = relative_links(ROOT / "README.md")
    metrics = relative_links(ROOT / "docs" / "metrics.md")
    for name in BACKEND_PAGES:
        assert f"docs/backends/{name}" in readme
        assert f"backends/{name}" in metrics
    pages = " ".join((ROOT / "docs" / "backends" / name).read_text() for name in BACKEND_PAGES)
    for backend in registry.names():
        assert f"backend: {backend}" in pages, f"no page documents backend {backend}"


def test_backend_pages_name_only_metrics_the_exporter_exports() -> None:
    for name in BACKEND_PAGES:
        text = (ROOT / "docs" / "backends" / name).read_text()
        for family in set(re.findall(r"\b(jobfleet_[a-z_]+)\b", text)):
            assert family in families(), f"{name} names {family}, which is not exported"
