"""Metrics are an API: the declarations, the contract file, the docs, the dashboards and the
rules agree, and what the exporter emits is what it declares."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from exporter.backends.kuberay.target import NAMESPACE_LABEL
from exporter.config.parse import load_config
from exporter.exposition.declared import all_families, families
from exporter.exposition.family import Family, index_families

from .helpers import ROOT
from .stable_metrics import CONTRACT, declared_contract, render

PROMETHEUS_LABELS = frozenset({"job", "instance", "le"})  # added by Prometheus, or by histograms
# attribution labels a backend always adds, whatever the configuration (KubeRay's namespace)
FIXED_ATTRIBUTION = frozenset({NAMESPACE_LABEL})
# (dashboard, family): the namespace filter on a family that has no namespace label and no job
# or cluster to join one from; it hides the panel once namespaces are chosen (the panel says so)
UNSPLIT_BY_NAMESPACE = {("jobs.json", "jobfleet_jobs_by_type")}


def test_the_contract_file_matches_the_declarations() -> None:
    """A family or a label renamed, added or removed in code without the file fails here:
    ``make stable-metrics`` rewrites it, and the diff is the change of the contract."""
    written = yaml.safe_load(CONTRACT.read_text())
    declared = declared_contract()
    assert [entry["name"] for entry in written] == [entry["name"] for entry in declared]
    for was, now in zip(written, declared, strict=True):
        assert was == now, f"{now['name']} changed: run make stable-metrics and review the diff"
    assert CONTRACT.read_text() == render(declared)


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        (Family("jobfleet_jobs", "gauge", "again"), "declared twice"),
        (Family("jobfleet_x", "summary", "x"), "unknown type summary"),
        (Family("jobfleet_x", "gauge", "x", stability="beta"), "unknown stability beta"),
        (Family("jobfleet_x", "gauge", "x", ("a",), optional=("a",)), "a label declared twice"),
        (Family("jobfleet_x", "gauge", "x", ("le",)), "label name 'le'"),
        (Family("jobfleet_x", "gauge", "x", ("a-b",)), "label name 'a-b'"),
        (Family("jobfleet_x", "gauge", "x", stability="deprecated"), "replaced_by"),
        (
            Family("jobfleet_x", "gauge", "x", stability="deprecated", replaced_by="jobfleet_y"),
            "replaced by jobfleet_y, not declared",
        ),
    ],
)
def test_a_declaration_that_breaks_the_rules_is_refused(declaration: Family, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        index_families([*families().values(), declaration])


def test_a_deprecated_family_says_what_replaces_it() -> None:
    old = Family(
        "jobfleet_old_total", "counter", "Old.", stability="deprecated", replaced_by="jobfleet_jobs"
    )
    index_families([*families().values(), old])
    assert old.header().startswith(b"# HELP jobfleet_old_total Old. Deprecated: use jobfleet_jobs.")
    assert b"Deprecated: use jobfleet_jobs." in old.openmetrics_header()


def test_a_deprecated_family_is_emitted_beside_its_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """For the minor version a rename takes: the old name, its help saying what replaces it,
    with the new family's samples (only names change, never a label value)."""
    from exporter.exposition import families as declared
    from exporter.exposition import store
    from exporter.exposition.block import Block

    old = Family(
        "jobfleet_jobs_tracked",
        "gauge",
        "Jobs currently tracked.",
        declared.JOBS.labels,
        attribution=True,
        stability="deprecated",
        replaced_by="jobfleet_jobs",
    )
    with_old = index_families([*families().values(), old])
    monkeypatch.setattr(store, "families", lambda: with_old)
    block = Block((("target", "jobfleet_jobs"), ("backend", "ray")))
    block.add(declared.JOBS, 3, (("phase", "running"), ("status", "RUNNING")))
    exposition = store.Exposition()
    exposition.update({store.BlockKey("t", "jobs"): block.encode()})
    body = exposition.body()
    labels = b'{target="jobfleet_jobs",backend="ray",phase="running",status="RUNNING"} 3\n'
    assert b"\njobfleet_jobs" + labels in body
    assert b"\njobfleet_jobs_tracked" + labels in body
    assert (
        b"# HELP jobfleet_jobs_tracked Jobs currently tracked. Deprecated: use jobfleet_jobs.\n"
        in body
    )


# --- docs/metrics.md --------------------------------------------------------------------------

ROW = re.compile(r"^\| `(jobfleet_[a-z_]+)` \| ([a-z]+) \|([^|]*)\|", re.MULTILINE)


def test_the_metric_tables_in_the_docs_agree_with_the_declarations() -> None:
    """Type and labels of each family (its table names the labels beyond target and backend,
    and says whether attribution labels are on it)."""
    rows = {name: (kind, labels) for name, kind, labels in ROW.findall(_metrics_doc())}
    assert set(rows) == set(families())
    for name, (kind, labels) in rows.items():
        family = families()[name]
        assert kind == family.type, name
        documented = set(re.findall(r"`([a-z_]+)`", labels)) - {"histograms"}
        assert documented == family.label_names - {"target", "backend"}, name
        assert ("attribution labels" in labels) == family.attribution, name


def _metrics_doc() -> str:
    return (ROOT / "docs" / "metrics.md").read_text()


# --- dashboards and rules ---------------------------------------------------------------------

# a series name, not part of a recorded one (``target_backend:jobfleet_jobs_submitted:increase1h``)
SELECTOR = re.compile(r"(?<![\w:])((?:jobfleet|process|python)_[a-z_]+)(?![\w:])\s*(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_$][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SUFFIXES = ("_bucket", "_sum", "_count")


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every dashboard panel and every rule."""
    found: list[tuple[str, str]] = []

    def walk(where: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    found.append((where, value))
                else:
                    walk(where, value)
        elif isinstance(node, list):
            for value in node:
                walk(where, value)

    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        walk(path.name, json.loads(path.read_text()))
    for path in sorted((ROOT / "rules").glob("*.yml")):
        walk(path.name, yaml.safe_load(path.read_text()))
    return found


def _family(series: str) -> Family | None:
    declared = all_families()
    if series in declared:
        return declared[series]
    for suffix in SUFFIXES:
        family = declared.get(series.removesuffix(suffix))
        if family is not None and family.type == "histogram":
            return family
    return None


def _configured_attribution(where: str) -> frozenset[str]:
    """The attribution labels of the configuration a generated rule file comes from: the SLO
    example's rules group by one."""
    if where != "slo.example.yml":
        return frozenset()
    config = load_config(ROOT / "docs" / "slo.example.yaml", environ={})
    return frozenset(config.defaults.attribution.labels)


def test_dashboards_and_rules_use_only_declared_families_and_labels() -> None:
    found = expressions()
    assert len(found) >= 40
    for where, expr in found:
        named: set[str] = set()
        for series, matchers in SELECTOR.findall(expr):
            family = _family(series)
            assert family is not None, f"{where}: {series} is not a declared family"
            allowed = family.label_names | PROMETHEUS_LABELS
            if family.attribution:
                allowed |= FIXED_ATTRIBUTION | _configured_attribution(where)
            if (where, family.name) in UNSPLIT_BY_NAMESPACE:
                allowed |= {NAMESPACE_LABEL}
            used = {name for name in MATCHER.findall(matchers) if not name.startswith("$")}
            assert used <= allowed, f"{where}: {series} has no label {used - allowed}"
            named |= allowed
        for group in GROUPING.findall(expr):
            labels = {label.strip() for label in group.split(",") if label.strip()}
            labels = {label for label in labels if not label.startswith("$")}
            if named:
                assert labels <= named, f"{where}: no family here has {labels - named}"


# --- what the exporter emits ------------------------------------------------------------------


def test_a_sample_that_breaks_the_contract_raises_under_test() -> None:
    """Strict under test (conftest sets JOBFLEET_STRICT_METRICS): the bug fails where it is."""
    from exporter.exposition import families as declared
    from exporter.exposition.block import Block
    from exporter.exposition.contract import STRICT, ContractViolation

    assert STRICT
    block = Block((("target", "t"), ("backend", "ray")))
    typo = Family("jobfleet_jobs_typo", "gauge", "Not declared.", ("target", "backend"))
    with pytest.raises(ContractViolation, match="jobfleet_jobs_typo is not a declared family"):
        block.add(typo, 1)
    with pytest.raises(ContractViolation, match=r"missing \['status'\]"):
        block.add(declared.JOBS, 1, (("phase", "running"),))
    with pytest.raises(ContractViolation, match=r"not declared \['team'\]"):
        block.add(declared.JOBS_BY_TYPE, 1, (("job_type", "x"), ("team", "a")))
    with pytest.raises(ContractViolation, match="attribution labels on a family declared"):
        block.add(declared.JOBS_BY_TYPE, 1, (("job_type", "x"),), (("team", "a"),))
    block.add(declared.JOBS_BY_TYPE, 1, (("job_type", "x"),))
    assert block.encode()["jobfleet_jobs_by_type"].startswith(b"jobfleet_jobs_by_type{")


def test_in_production_a_refused_sample_is_left_out_counted_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Never a crash and never a silent drop: the rest of the block is published, the
    target's jobfleet_series_refused_total counts it, and the log names it once."""
    from exporter.app import Exporter
    from exporter.config.parse import parse_config
    from exporter.exposition import contract
    from exporter.model import Job
    from exporter.simulators.ray import RaySimulator

    from .helpers import value

    monkeypatch.setattr(contract, "STRICT", False)
    with RaySimulator() as sim:
        sim.add_job("a", status="RUNNING")
        exporter = Exporter(parse_config({"targets": [sim.target_config("ray")]}))
        try:
            poller = exporter.pollers[0]
            original = poller.backend.list_jobs

            def with_an_undeclared_label(deadline: float):  # a backend bug
                listing = original(deadline)
                for job in listing.items:
                    assert isinstance(job, Job)
                    job.extra_labels = (("undeclared", "x"),)
                return listing

            monkeypatch.setattr(poller.backend, "list_jobs", with_an_undeclared_label)
            with caplog.at_level("ERROR"):
                assert poller.poll("jobs") and poller.poll("jobs")
            body = exporter.exposition.body()
        finally:
            exporter.close()
    assert value(body, "jobfleet_series_refused_total", target="ray") >= 2
    assert value(body, "jobfleet_jobs", target="ray", phase="running", status="RUNNING") == 1
    assert b"jobfleet_job_info{" not in body  # the job's own series are what was left out
    lines = [r.getMessage() for r in caplog.records if "series left out" in r.getMessage()]
    assert len(lines) == 1 and "not declared ['undeclared']" in lines[0]


@pytest.mark.slow
def test_a_fleet_of_every_backend_emits_only_what_it_declares(tmp_path) -> None:
    """Every backend's simulator, attribution on, a state file: each sample's family is
    declared, carries its labels (attribution labels only where declared), and each declared
    family is emitted by the backends it names."""
    from prometheus_client.parser import text_string_to_metric_families

    from exporter.backends import registry

    from .helpers import simulated_fleet

    fleet = simulated_fleet(state_file=tmp_path / "state.db", discovery_file=tmp_path / "sd.json")
    with fleet as (exporter, advance):
        for _ in range(40):
            advance()
        body = exporter.exposition.body().decode()
        attribution = {p.target.name: set(p.target.attribution.labels) for p in exporter.pollers}
    emitted: dict[str, set[str]] = {}
    declared_families = families()
    for parsed in text_string_to_metric_families(body):
        name = parsed.name if parsed.name in declared_families else f"{parsed.name}_total"
        family = declared_families[name]
        for sample in parsed.samples:
            names = set(sample.labels) - {"le"}
            extra = attribution.get(sample.labels.get("target", ""), set())
            declared = family.label_names | (extra if family.attribution else set())
            assert set(family.labels) <= names <= declared, (family.name, sorted(names))
            emitted.setdefault(family.name, set()).add(sample.labels.get("backend", ""))
    assert set(declared_families) == set(emitted), sorted(set(declared_families) - set(emitted))
    for name, backends in emitted.items():
        for backend in declared_families[name].backends:
            assert backend in registry.names()
        if declared_families[name].backends:
            assert backends <= set(declared_families[name].backends), (name, backends)
