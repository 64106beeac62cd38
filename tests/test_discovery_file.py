"""File discovery without a process: the configuration of a source, Prometheus' file_sd format
(JSON and YAML, bad shapes, label bounds, reserved names), the names and URLs of discovered
targets, and a source keeping the last good version of a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from exporter.config.discovery import address_url, discovered_target, target_name
from exporter.config.parse import load_config, parse_config
from exporter.config.types import ConfigError
from exporter.discovery import Discovery
from exporter.discovery.file_sd import MAX_LABELS, SdProblem, parse_groups, read_groups


def config(paths: list[str], **source: object) -> dict:
    template = source.pop("template", {"backend": "ray"})
    return {
        "discovery": [{"name": "fleet", "file": {"paths": paths}, "template": template, **source}]
    }


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


# --- configuration ----------------------------------------------------------------------------


def test_a_configuration_of_discovery_alone_is_enough() -> None:
    parsed = parse_config(config(["/tmp/none/*.json"], template={"backend": "openyuanrong"}))
    assert parsed.targets == [] and parsed.discovery[0].file.refresh_interval == 30
    assert problems({}) == ["targets: required: at least one target, or a discovery source"]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ({"name": "config"}, "discovery[0].name: config is the source of the configured targets"),
        ({"name": "a:b"}, "discovery[0].name: must be 1-32 characters"),
        ({"template": {}}, "discovery[0].template.backend: must be one of:"),
        (
            {"template": {"backend": "emr_serverless"}},
            "discovery[0].template.backend: emr_serverless targets have no url",
        ),
        (
            {"template": {"backend": "ray", "url": "http://x:1"}},
            "discovery[0].template.url: given by each discovered address, not the template",
        ),
        (
            {"template": {"backend": "ray", "poll_intervall": "5s"}},
            "discovery[0].template.poll_intervall: unknown key",
        ),
        (
            {"template": {"backend": "ray", "attribution": {"labels": {"team": "owner"}}}},
            "discovery[0].template.attribution.labels.team: owner is not an attribution field",
        ),
        ({"scheme": "ftp"}, "discovery[0].scheme:"),
        ({"max_targets": 0}, "discovery[0].max_targets:"),
    ],
)
def test_a_source_is_checked_when_the_configuration_is_read(source: dict, problem: str) -> None:
    found = problems(config(["a.json"], **source))
    assert any(line.startswith(problem) for line in found), found


def test_a_template_secret_never_shows_in_a_repr() -> None:
    parsed = parse_config(
        config(["a.json"], template={"backend": "ray", "credentials": {"token": "s3cret"}})
    )
    assert "s3cret" not in repr(parsed.discovery)


# --- addresses and names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "url", "name"),
    [
        ("10.0.0.5:8265", "http://10.0.0.5:8265", "fleet:10.0.0.5:8265"),
        ("http://10.0.0.5:8265/", "http://10.0.0.5:8265", "fleet:10.0.0.5:8265"),
        ("Ray-Head.example", "http://Ray-Head.example", "fleet:ray-head.example:80"),
        ("https://[::1]:8443", "https://[::1]:8443", "fleet:::1:8443"),
    ],
)
def test_an_address_gives_a_url_and_a_stable_name(address: str, url: str, name: str) -> None:
    assert address_url(address, "http") == url
    assert target_name("fleet", url) == name


def test_names_stay_apart_and_within_64_characters() -> None:
    one = target_name("fleet", "https://proxy:443/ray/a")
    two = target_name("fleet", "https://proxy:443/ray/b")
    assert one != two and one.startswith("fleet:proxy:443-")
    long = target_name("fleet", "http://" + "h" * 200 + ".example:8265")
    other = target_name("fleet", "http://" + "h" * 200 + ".example:8266")
    assert len(long) == 64 and long != other


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("user:pw@host:8265", "user info"),
        ("http://u:p@host:8265", "user info"),
        ("host:8265/path", "a path needs the URL form"),
        ("http://host:8265/?token=x", "query"),
        ("host:99999", "invalid port"),
        ("ftp://host:21", "http:// or https://"),
        ("ho st:1", "without spaces"),
        (8265, "host:port or an http"),
        ("bad_host!:1", "must name a host"),
    ],
)
def test_a_bad_address_is_refused(address: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        address_url(address, "http")


def test_a_discovered_target_has_the_template_and_the_defaults() -> None:
    parsed = parse_config(
        {
            "defaults": {"timeout": "7s"},
            **config(["a.json"], scheme="https", template={"backend": "ray", "poll_interval": 5}),
        }
    )
    target = discovered_target(parsed.discovery[0], parsed.defaults, "head:8265")
    assert (target.name, target.url) == ("fleet:head:8265", "https://head:8265")
    assert (target.poll_interval, target.timeout) == (5, 7)


# --- the file_sd format -----------------------------------------------------------------------

GROUPS = [
    {"targets": ["a:8265", "b:8265"], "labels": {"env": "prod", "__meta_x": "dropped"}},
    {"targets": ["c:8265"]},
]


@pytest.mark.parametrize("suffix", [".json", ".yml", ".yaml"])
def test_json_and_yaml_files_give_the_same_groups(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"sd{suffix}"
    path.write_text(json.dumps(GROUPS) if suffix == ".json" else yaml.safe_dump(GROUPS))
    groups = read_groups(path)
    assert [g.addresses for g in groups] == [("a:8265", "b:8265"), ("c:8265",)]
    assert [g.labels for g in groups] == [(("env", "prod"),), ()]


@pytest.mark.parametrize(
    ("document", "reason", "problem"),
    [
        ({"targets": []}, "format", "must be a list of target groups"),
        (["a:1"], "format", "[0]: must be a mapping"),
        ([{"targets": "a:1"}], "format", "[0].targets: must be a list"),
        ([{"targets": [], "label": {}}], "format", "[0]: unknown key label"),
        ([{"targets": [], "labels": ["a"]}], "format", "[0].labels: must be a mapping"),
        ([{"targets": [], "labels": {"team": 1}}], "labels", "a label value must be a string"),
        ([{"targets": [], "labels": {"target": "x"}}], "labels", "the exporter or Prometheus"),
        ([{"targets": [], "labels": {"source": "x"}}], "labels", "the exporter or Prometheus"),
        ([{"targets": [], "labels": {"instance": "x"}}], "labels", "the exporter or Prometheus"),
        ([{"targets": [], "labels": {"9x": "x"}}], "labels", "must be a label name"),
        ([{"targets": [], "labels": {"a": "x" * 257}}], "labels", "at most 256 printable"),
        ([{"targets": [], "labels": {"a": "x\ny"}}], "labels", "at most 256 printable"),
        (
            [{"targets": [], "labels": {f"l{i}": "x" for i in range(MAX_LABELS + 1)}}],
            "labels",
            f"more than {MAX_LABELS} labels",
        ),
    ],
)
def test_a_bad_document_is_refused_with_a_reason(document: object, reason: str, problem: str):
    with pytest.raises(SdProblem) as caught:
        parse_groups(document, "sd.json")
    assert caught.value.reason == reason and problem in str(caught.value)


def test_an_empty_file_has_no_targets_and_empty_values_no_labels() -> None:
    assert parse_groups(None, "sd.yml") == []
    (group,) = parse_groups([{"targets": ["a:1"], "labels": {"team": ""}}], "sd.yml")
    assert group.labels == ()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("sd.txt", "[]", "format"),
        ("sd.json", "[{", "format"),
        ("sd.yml", "- targets: [a\n", "format"),
        ("sd.json", "\udcff", "read"),
    ],
)
def test_an_unusable_file_is_refused(tmp_path: Path, name: str, content: str, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(SdProblem) as caught:
        read_groups(path)
    assert caught.value.reason == reason


# --- a source at run time ---------------------------------------------------------------------


def write(path: Path, groups: list[dict]) -> None:
    """Written beside and renamed over, as a tool should (a new inode each time)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(groups))
    os.replace(temporary, path)


def source_of(paths: list[str], **settings: object) -> Discovery:
    parsed = parse_config(config(paths, **settings))
    return Discovery(parsed.discovery, parsed.defaults)


def test_a_source_follows_its_files_and_keeps_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write(path, [{"targets": ["h1:8265"], "labels": {"env": "prod"}}])
    discovery = source_of([str(tmp_path / "*.json")])
    (source,) = discovery.sources
    assert source.refresh()
    assert [(d.target.name, d.labels) for d in source.found] == [
        ("fleet:h1:8265", (("env", "prod"),))
    ]
    assert source.ok and not source.refresh()  # unchanged: not read again

    path.write_text("[{")  # broken: the last good version stays, counted once
    assert not source.refresh() and not source.refresh()
    assert [d.target.name for d in source.found] == ["fleet:h1:8265"]
    assert source.errors["format"] == 1 and not source.ok

    write(path, [{"targets": ["h1:8265", "h2:8265"]}])
    assert source.refresh() and source.ok
    assert [d.target.name for d in source.found] == ["fleet:h1:8265", "fleet:h2:8265"]

    write(tmp_path / "b.json", [{"targets": ["h2:8265", "h3:8265"]}])
    assert source.refresh()  # h2 twice: the first file's is kept
    assert [d.target.name for d in source.found][-1] == "fleet:h3:8265"
    assert source.errors["duplicate"] == 1

    path.unlink()  # a file that no longer matches takes its targets away
    assert source.refresh()
    assert [d.target.name for d in source.found] == ["fleet:h2:8265", "fleet:h3:8265"]


def test_relative_paths_are_of_the_configuration_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Prometheus reads file_sd paths: wherever the exporter was started from."""
    (tmp_path / "sd").mkdir()
    write(tmp_path / "sd" / "a.json", [{"targets": ["h1:8265"]}])
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config(["sd/*.json", str(tmp_path / "x.json")])))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    parsed = load_config(config_file)
    paths = parsed.discovery[0].file.paths
    assert paths == [str(tmp_path / "sd" / "*.json"), str(tmp_path / "x.json")]
    (source,) = Discovery(parsed.discovery, parsed.defaults).sources
    assert source.refresh() and [d.target.name for d in source.found] == ["fleet:h1:8265"]
    assert parse_config(config(["sd/*.json"])).discovery[0].file.paths == ["sd/*.json"]


def test_a_named_file_that_is_missing_keeps_its_targets(tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    path.write_text(yaml.safe_dump([{"targets": ["h1:8265"]}]))
    (source,) = source_of([str(path)]).sources
    source.refresh()
    path.unlink()
    assert not source.refresh()
    assert len(source.found) == 1 and source.errors["read"] == 1 and not source.ok


def test_a_bad_address_refuses_its_file_and_max_targets_bounds_the_source(tmp_path: Path):
    path = tmp_path / "a.json"
    write(path, [{"targets": ["h1:8265", "h2:8265", "h3:8265"]}])
    (source,) = source_of([str(path)], max_targets=2).sources
    source.refresh()
    assert [d.target.name for d in source.found] == ["fleet:h1:8265", "fleet:h2:8265"]
    assert source.errors["limit"] == 1 and not source.ok
    write(path, [{"targets": ["h1:8265", "u:p@h4:8265"]}])
    source.refresh()
    assert len(source.found) == 2 and source.errors["target"] == 1


def test_a_reload_keeps_a_source_whose_settings_stay(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write(path, [{"targets": ["h1:8265"]}])
    parsed = parse_config(config([str(path)]))
    first = Discovery(parsed.discovery, parsed.defaults)
    first.refresh()
    path.write_text("{")
    first.refresh(force=True)
    again = Discovery(parsed.discovery, parsed.defaults, first)
    assert again.sources[0] is first.sources[0]
    changed = parse_config(config([str(path)], scheme="https"))
    other = Discovery(changed.discovery, changed.defaults, first)
    assert other.sources[0] is not first.sources[0]
    assert other.sources[0].errors["format"] == 1  # its counts go on
