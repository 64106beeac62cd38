"""Hostile job and cluster names, through the simulators and a real poll, still give exposition
that promtool and client_python's parser accept, with values escaped and capped."""

from __future__ import annotations

from exporter.app import Exporter
from exporter.config.parse import parse_config
from exporter.exposition.text import MAX_LABEL_VALUE_LENGTH
from exporter.simulators.emr_serverless import EmrServerlessSimulator
from exporter.simulators.ray import RaySimulator

from .helpers import promtool_check_metrics, samples

HOSTILE = [
    'quote " inside',
    "back\\slash \\n not a newline",
    "new\nline and\r\ncarriage",
    "nul \x00 byte",
    "invalid utf-8 \udcff lone surrogate",
    "emoji 🚀🔥 and 中文",
    'label="injection",job_id="x"} 1\nfake_metric 42',
    "x" * 10_240,
]


def test_hostile_names_give_valid_capped_exposition() -> None:
    with RaySimulator() as ray, EmrServerlessSimulator() as emr:
        for i, name in enumerate(HOSTILE):
            ray.add_job(f"ray-{i}", status="RUNNING", metadata={"job_name": name})
            emr.add_job(f"rj-{i}", name=name, status="Running", resource_queue=name)
            emr.add_cluster(f"ray-cluster-{i}", name=name)
        exporter = Exporter(
            parse_config(
                {
                    "defaults": {"per_job_series": "all"},
                    "targets": [ray.target_config("ray"), emr.target_config("emr")],
                }
            )
        )
        assert exporter.poll_all_once()
        exporter.close()
    body = exporter.exposition.body()
    body.decode("utf-8")  # valid UTF-8 throughout
    parsed = samples(body)  # client_python's parser accepts it
    names = [dict(labels)["job_name"] for (name, labels) in parsed if name == "jobfleet_job_info"]
    assert len(names) == 2 * len(HOSTILE)
    assert all(len(name) <= MAX_LABEL_VALUE_LENGTH for name in names)
    assert 'quote " inside' in names and "new\nline and\r\ncarriage" in names
    assert "emoji 🚀🔥 and 中文" in names
    assert not any(name == "fake_metric" for name, _ in parsed)
    clusters = [
        dict(labels)["cluster_name"]
        for (name, labels) in parsed
        if name == "jobfleet_cluster_info" and ("target", "emr") in labels
    ]
    assert len(clusters) == len(HOSTILE)
    lint = promtool_check_metrics(body)
    assert lint.returncode == 0, lint.stdout + lint.stderr
