"""When sources are read: each in a thread of its own, without the lock that applying a
configuration holds, so that an endpoint answering slowly holds neither a reload nor the
changes another source found."""

from __future__ import annotations

import json
from pathlib import Path

from exporter.app import Exporter
from exporter.config.parse import parse_config

from .helpers import eventually
from .test_discovery_http import Endpoint, serving

DEADLINE_S = 10.0


def wait_for(condition, what: str) -> None:
    eventually(condition, DEADLINE_S, 0.005, what)


def names(exporter: Exporter) -> set[str]:
    return {target.name for target in exporter.config.targets}


def test_a_slow_endpoint_holds_neither_a_reload_nor_another_sources_changes(
    tmp_path: Path,
) -> None:
    sd = tmp_path / "fleet.json"
    sd.write_text(json.dumps([{"targets": ["f1:8265"]}]))
    endpoint = Endpoint()
    endpoint.answer([{"targets": ["h1:8265"]}])
    with serving(endpoint) as base:
        data = {
            "discovery": [
                {"name": "web", "http": {"url": f"{base}/sd"}, "template": {"backend": "ray"}},
                {"name": "files", "file": {"paths": [str(sd)]}, "template": {"backend": "ray"}},
            ]
        }
        exporter = Exporter(parse_config(data), load_config=lambda: parse_config(data))
        try:
            assert names(exporter) == {"web:h1:8265", "files:f1:8265"}
            endpoint.hang, endpoint.body = True, json.dumps([{"targets": ["h2:8265"]}]).encode()
            sd.write_text(json.dumps([{"targets": ["f1:8265"]}, {"targets": ["f2:8265"]}]))
            for source in exporter.discovery.sources:
                source.next_refresh = 0.0
            exporter.discovery.refresh_in_background(exporter.apply_discovery)

            wait_for(lambda: len(endpoint.requests) == 2, "the endpoint asked (it hangs)")
            wait_for(lambda: "files:f2:8265" in names(exporter), "the file's change applied")
            assert not endpoint.release.is_set()

            ok, summary = exporter.reload()  # the endpoint has not answered yet
            assert ok, summary
            assert len(endpoint.requests) == 2  # the reload did not wait on the endpoint
            assert names(exporter) == {"web:h1:8265", "files:f1:8265", "files:f2:8265"}

            endpoint.release.set()
            wait_for(lambda: "web:h2:8265" in names(exporter), "the endpoint's answer applied")
            exporter.discovery.refresh_in_background(exporter.apply_discovery)  # due after reload
            wait_for(lambda: len(endpoint.requests) == 3, "asked again after the reload")
            assert names(exporter) == {"web:h2:8265", "files:f1:8265", "files:f2:8265"}
        finally:
            endpoint.release.set()
            exporter.close()
