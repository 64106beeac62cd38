"""The Helm chart: linted by the real helm, rendered with the default, all-on and example values
and checked by kubernetes-validate, its rules and dashboards exactly the repository's, its
security settings and secret handling, and each rendered config accepted by the exporter."""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import certifi
import pytest
import yaml

from .helpers import ROOT, cache_dir, need

CHART = ROOT / "helm" / "jobfleet-exporter"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))
VALUES = {
    "default": (),
    "all-on": ("-f", str(CHART / "ci" / "all-on-values.yaml")),
    **{path.stem: ("-f", str(path)) for path in EXAMPLES},
}
SECRETS_DIR = "/etc/jobfleet-exporter/secrets/"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The oldest and the newest Kubernetes that kubernetes-validate knows.
KUBE_VERSIONS = ("1.25.0", "1.37.0")


def helm() -> str:
    bundled = cache_dir() / "helm-v3.17.2" / "helm"
    found = str(bundled) if bundled.is_file() else shutil.which("helm")
    need(found is not None, "helm is not installed (scripts/install-tools.sh)")
    return found


def run(*command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


@cache
def _template(helm_path: str, args: tuple[str, ...]) -> subprocess.CompletedProcess:
    return run(helm_path, "template", "jf", str(CHART), "--namespace", "mon", *args)


def template(*args: str) -> subprocess.CompletedProcess:
    """``helm template`` of the chart as release ``jf`` in namespace ``mon``."""
    return _template(helm(), args)


def render(*args: str) -> list[dict]:
    result = template(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def only(docs: list[dict], kind: str) -> dict:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def workloads(docs: list[dict]) -> list[dict]:
    return [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet")]


def rendered_config(docs: list[dict]) -> str:
    """The exporter's config.yaml, from the chart's ConfigMap."""
    maps = [doc["data"] for doc in docs if doc["kind"] == "ConfigMap"]
    (config,) = [data["config.yaml"] for data in maps if "config.yaml" in data]
    return config


def calls_this_cluster(target: dict) -> bool:
    """A KubeRay target that calls the API server of the cluster it runs in."""
    return target["backend"] == "kuberay" and target.get("in_cluster") is True


def in_cluster_targets(docs: list[dict]) -> list[dict]:
    return [t for t in yaml.safe_load(rendered_config(docs))["targets"] if calls_this_cluster(t)]


def in_cluster_sources(docs: list[dict]) -> list[dict]:
    """The kuberay discovery sources that call the API server of the cluster they run in."""
    sources = yaml.safe_load(rendered_config(docs)).get("discovery") or []
    return [s for s in sources if (s.get("kuberay") or {}).get("in_cluster") is True]


def repo_rule_groups() -> list[dict]:
    return [
        group
        for name in ("recording.yml", "alerts.yml")
        for group in yaml.safe_load((ROOT / "rules" / name).read_text())["groups"]
    ]


def repo_dashboards() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))}


# --- lint and Kubernetes schemas ------------------------------------------------------------


@pytest.mark.parametrize("name", VALUES)
def test_helm_lint_strict_passes(name: str) -> None:
    result = run(helm(), "lint", "--strict", str(CHART), *VALUES[name])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


def kubernetes_validate(manifests: str, directory: Path) -> subprocess.CompletedProcess:
    """``kubernetes-validate --strict`` against each of KUBE_VERSIONS. From a file: it reads
    ``-`` (stdin) once, so stdin would serve only the first version."""
    path = directory / "manifests.yaml"
    path.write_text(manifests)
    versions = [arg for version in KUBE_VERSIONS for arg in ("-k", version)]
    return run(sys.executable, "-m", "kubernetes_validate", "--strict", *versions, str(path))


@pytest.mark.slow
@pytest.mark.parametrize("name", VALUES)
def test_rendered_manifests_pass_kubernetes_validate_strict(name: str, tmp_path: Path) -> None:
    result = template(*VALUES[name])
    assert result.returncode == 0, result.stderr
    checked = kubernetes_validate(result.stdout, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    builtin = [doc for doc in docs if doc["kind"] not in CRD_KINDS]
    assert checked.stdout.count(" passed for resource ") == len(builtin) * len(KUBE_VERSIONS)
    # Only the Prometheus Operator's kinds, which it has no schema for, may merely warn.
    for line in checked.stdout.splitlines():
        if line.startswith("WARN"):
            assert re.search(r"kind (ServiceMonitor|PrometheusRule) ", line), line


def test_kubernetes_validate_refuses_a_misspelt_field(tmp_path: Path) -> None:
    """The check above is not vacuous: a field Kubernetes does not know fails it."""
    result = template("--set", "podSecurityContext.runAsUsr=65532")
    assert result.returncode == 0, result.stderr
    checked = kubernetes_validate(result.stdout, tmp_path)
    assert checked.returncode != 0
    assert "runAsUsr" in checked.stdout


# --- rules and dashboards: the repository's own ---------------------------------------------


def test_chart_files_link_to_the_repository_rules_and_dashboards() -> None:
    files = CHART / "files"
    for link, target in (
        ("recording.yml", ROOT / "rules" / "recording.yml"),
        ("alerts.yml", ROOT / "rules" / "alerts.yml"),
        ("dashboards", ROOT / "grafana" / "dashboards"),
    ):
        assert (files / link).is_symlink(), f"files/{link} must link to the repository's file"
        assert not os.path.isabs(os.readlink(files / link))
        assert (files / link).resolve() == target.resolve()


@pytest.mark.parametrize(
    "args",
    [
        ("--set", "prometheusRule.enabled=true", "--set", "dashboards.enabled=true"),
        VALUES["all-on"],
    ],
    ids=["enabled", "all-on"],
)
def test_prometheus_rule_and_dashboards_are_exactly_the_repository_files(args) -> None:
    docs = render(*args)
    rule = only(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == repo_rule_groups()
    # Prometheus' template text reaches Prometheus as written, not evaluated by Helm.
    annotations = rule["spec"]["groups"][1]["rules"][0]["annotations"]
    assert "{{ $labels.target }}" in annotations["summary"]
    dashboards = next(d for d in docs if d["metadata"]["name"].endswith("-dashboards"))
    assert dashboards["data"] == repo_dashboards()
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert sum(len(text.encode()) for text in dashboards["data"].values()) < 900_000


def test_rules_can_be_disabled_and_groups_added() -> None:
    extra = '[{"name":"mine","rules":[{"alert":"Mine","expr":"vector(1)"}]}]'
    docs = render(
        "--set", "prometheusRule.enabled=true",
        "--set", "prometheusRule.disabled={JobfleetClusterError,JobfleetThrottled}",
        "--set-json", f"prometheusRule.additionalGroups={extra}",
    )  # fmt: skip
    groups = only(docs, "PrometheusRule")["spec"]["groups"]
    expected = []
    for group in repo_rule_groups():
        rules = [
            r
            for r in group["rules"]
            if r.get("alert") not in ("JobfleetClusterError", "JobfleetThrottled")
        ]
        if rules:
            expected.append({**group, "rules": rules})
    names = [g["name"] for g in expected]
    assert "jobfleet-jobs" in names and "jobfleet-clusters" not in names  # its one rule is off
    assert groups == [
        *expected,
        {"name": "mine", "rules": [{"alert": "Mine", "expr": "vector(1)"}]},
    ]


def test_generated_slo_rules_join_the_prometheus_rule_as_printed() -> None:
    """The file --slo.print-rules wrote, given with --set-file, its groups after the
    repository's, ``disabled`` applied to its rules too, its templates left to Prometheus."""
    slo_rules = ROOT / "rules" / "slo.example.yml"
    docs = render(
        "--set", "prometheusRule.enabled=true",
        "--set", "prometheusRule.disabled={JobfleetSloSlowBurn}",
        "--set-file", f"prometheusRule.sloRules={slo_rules}",
    )  # fmt: skip
    groups = only(docs, "PrometheusRule")["spec"]["groups"]
    expected = [
        {**group, "rules": [r for r in group["rules"] if r.get("alert") != "JobfleetSloSlowBurn"]}
        for group in yaml.safe_load(slo_rules.read_text())["groups"]
    ]
    assert groups == [*repo_rule_groups(), *expected]
    pages = [r for g in groups for r in g["rules"] if r.get("alert") == "JobfleetSloFastBurn"]
    assert len(pages) == 2
    assert "{{ $labels.target }}" in pages[0]["annotations"]["summary"]


@pytest.mark.parametrize("text", ["not a rule file", "groups: []", "groups: [a"])
def test_slo_rules_that_are_not_a_rule_file_are_refused(text: str) -> None:
    result = template(
        "--set", "prometheusRule.enabled=true", "--set-string", f"prometheusRule.sloRules={text}"
    )
    assert result.returncode != 0
    assert "prometheusRule.sloRules: must be a rule file with groups" in result.stderr


def test_dashboards_label_folder_and_namespace_are_configurable() -> None:
    docs = render(
        "--set", "dashboards.enabled=true", "--set", "dashboards.namespace=grafana",
        "--set", "dashboards.labelName=dash", "--set", "dashboards.labelValue=yes",
        "--set", "dashboards.folder=Jobs",
    )  # fmt: skip
    dashboards = next(d for d in docs if d["metadata"]["name"].endswith("-dashboards"))
    assert dashboards["metadata"]["namespace"] == "grafana"
    assert dashboards["metadata"]["labels"]["dash"] == "yes"
    assert "grafana_dashboard" not in dashboards["metadata"]["labels"]
    assert dashboards["metadata"]["annotations"] == {"grafana_folder": "Jobs"}


def test_optional_objects_are_off_by_default() -> None:
    kinds = sorted(doc["kind"] for doc in render())
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]


# --- sharding -------------------------------------------------------------------------------


def test_shards_make_a_statefulset_with_a_headless_service() -> None:
    docs = render("--set", "shards=3")
    assert not [doc for doc in docs if doc["kind"] == "Deployment"]
    sts = only(docs, "StatefulSet")
    assert sts["spec"]["replicas"] == 3
    services = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Service"}
    governing = services[sts["spec"]["serviceName"]]
    assert governing["spec"]["clusterIP"] == "None"
    assert (
        governing["spec"]["selector"].items()
        <= sts["spec"]["template"]["metadata"]["labels"].items()
    )
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--total-shards=3" in args
    assert not any(arg.startswith("--shard=") for arg in args)  # from the pod name's ordinal


def test_default_is_a_deployment_without_sharding() -> None:
    docs = render()
    assert not [doc for doc in docs if doc["kind"] == "StatefulSet"]
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not any(arg.startswith("--total-shards") for arg in args)
    assert "--config.file=/etc/jobfleet-exporter/config/config.yaml" in args
    assert only(render("--set", "replicaCount=2"), "Deployment")["spec"]["replicas"] == 2


def test_service_monitor_scrapes_every_shard_once() -> None:
    docs = render(*VALUES["all-on"])
    selector = only(docs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    services = [doc for doc in docs if doc["kind"] == "Service"]
    assert len(services) == 2
    selected = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
    assert len(selected) == 1 and selected[0]["spec"].get("clusterIP") != "None"


def test_service_monitor_keeps_the_exporters_namespace_label() -> None:
    """A RayJob's ``namespace`` stays ``namespace``, not ``exported_namespace``."""
    endpoint = only(render(*VALUES["all-on"]), "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["honorLabels"] is True
    docs = render(*VALUES["all-on"], "--set", "serviceMonitor.honorLabels=false")
    assert only(docs, "ServiceMonitor")["spec"]["endpoints"][0]["honorLabels"] is False


def test_persistence_per_workload() -> None:
    docs = render("--set", "persistence.enabled=true")
    claim = only(docs, "PersistentVolumeClaim")
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]

    docs = render("--set", "persistence.enabled=true", "--set", "persistence.existingClaim=mine")
    assert not [doc for doc in docs if doc["kind"] == "PersistentVolumeClaim"]
    volumes = only(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "state", "persistentVolumeClaim": {"claimName": "mine"}} in volumes

    docs = render("--set", "persistence.enabled=true", "--set", "shards=2")
    assert not [doc for doc in docs if doc["kind"] == "PersistentVolumeClaim"]
    sts = only(docs, "StatefulSet")
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["state"]
    assert "state" not in {v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]}


# --- security -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUES)
def test_every_pod_is_locked_down(name: str) -> None:
    docs = render(*VALUES[name])
    assert workloads(docs)
    for workload in workloads(docs):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 65532
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        # The token only for a target or source that calls this cluster's Kubernetes API.
        calls = in_cluster_targets(docs) or in_cluster_sources(docs)
        assert pod["automountServiceAccountToken"] is bool(calls)
        mounts = set()
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert "envFrom" not in container
            for env in container.get("env", []):
                assert "secretKeyRef" not in env.get("valueFrom", {}), env
            probes = (container["livenessProbe"], container["readinessProbe"])
            assert [p["httpGet"]["path"] for p in probes] == ["/healthz", "/readyz"]
            assert container["resources"]["limits"]["memory"]
            mounts |= {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/jobfleet-exporter", "/etc/jobfleet-exporter/config"} <= mounts


def test_secret_values_appear_only_in_the_secret() -> None:
    canary = "c4nary-s3cret-Value"
    docs = render("--set", f"secrets.access_key_secret={canary}")
    encoded = base64.b64encode(canary.encode()).decode()
    secret = only(docs, "Secret")
    assert secret["data"] == {"access_key_secret": encoded}
    for doc in docs:
        if doc is not secret:
            text = yaml.safe_dump(doc)
            assert canary not in text and encoded not in text, doc["kind"]
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "secrets")
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "secrets")
    assert mount == {"name": "secrets", "mountPath": SECRETS_DIR.rstrip("/"), "readOnly": True}


def test_existing_secret_is_mounted_and_none_is_made() -> None:
    docs = render("--set", "existingSecret=my-keys")
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    pod = only(docs, "Deployment")["spec"]["template"]
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "secrets")
    assert volume["secret"]["secretName"] == "my-keys"
    assert "checksum/secret" not in pod["metadata"]["annotations"]


def test_no_credentials_no_secret_volume() -> None:
    docs = render()
    assert not [doc for doc in docs if doc["kind"] == "Secret"]
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert "secrets" not in {v["name"] for v in pod["volumes"]}


def test_pods_roll_when_config_or_secret_changes() -> None:
    def checksums(*args: str) -> dict:
        pod = only(render("--set", "secrets.token=a", *args), "Deployment")["spec"]["template"]
        return {k: v for k, v in pod["metadata"]["annotations"].items() if k.startswith("checksum")}

    base = checksums()
    assert set(base) == {"checksum/config", "checksum/secret"}
    config_changed = checksums("--set", "config.defaults.poll_interval=1m")
    assert config_changed["checksum/config"] != base["checksum/config"]
    assert config_changed["checksum/secret"] == base["checksum/secret"]
    secret_changed = checksums("--set", "secrets.token=b")
    assert secret_changed["checksum/secret"] != base["checksum/secret"]
    assert secret_changed["checksum/config"] == base["checksum/config"]


def test_network_policy_admits_scrapes_and_restricts_egress() -> None:
    policy = only(render(*VALUES["all-on"]), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"]
    dns = {(p["port"], p["protocol"]) for p in policy["egress"][0]["ports"]}
    assert dns == {(53, "UDP"), (53, "TCP")}
    open_policy = only(render("--set", "networkPolicy.enabled=true"), "NetworkPolicy")["spec"]
    assert open_policy["policyTypes"] == ["Ingress"]
    assert "from" not in open_policy["ingress"][0]


# --- KubeRay: RBAC for the chart's service account -----------------------------------------

RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
# What a KubeRay target reads, and nothing more.
KUBERAY_RULES = [
    {
        "apiGroups": ["ray.io"],
        "resources": ["rayjobs", "rayclusters"],
        "verbs": ["get", "list", "watch"],
    }
]


def kuberay_targets(*targets: dict) -> tuple[str, ...]:
    return ("--set-json", f"config.targets={json.dumps(list(targets))}")


def in_cluster(name: str, namespaces: list[str] | None = None) -> dict:
    target = {"name": name, "backend": "kuberay", "in_cluster": True}
    return target if namespaces is None else {**target, "namespaces": namespaces}


def rbac(docs: list[dict]) -> dict[str, list[dict]]:
    return {kind: [doc for doc in docs if doc["kind"] == kind] for kind in sorted(RBAC_KINDS)}


def account_of(docs: list[dict]) -> dict:
    """The subject the pods run as: their serviceAccountName, in the release namespace."""
    (workload,) = workloads(docs)
    name = workload["spec"]["template"]["spec"]["serviceAccountName"]
    return {"kind": "ServiceAccount", "name": name, "namespace": "mon"}


def assert_namespaced_roles(
    docs: list[dict], namespaces: list[str], rules: list[dict] = KUBERAY_RULES
) -> None:
    """A Role with exactly the KubeRay ``rules`` in each namespace, bound to the pods'
    account."""
    found = rbac(docs)
    assert not found["ClusterRole"] and not found["ClusterRoleBinding"]
    for kind in ("Role", "RoleBinding"):  # one of each per namespace, none twice
        assert sorted(doc["metadata"]["namespace"] for doc in found[kind]) == sorted(namespaces)
    roles = {role["metadata"]["namespace"]: role for role in found["Role"]}
    bindings = {b["metadata"]["namespace"]: b for b in found["RoleBinding"]}
    for namespace, role in roles.items():
        assert role["rules"] == rules
        binding = bindings[namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [account_of(docs)]


def test_kuberay_example_gets_a_role_in_each_of_its_namespaces() -> None:
    docs = render(*VALUES["kuberay"])
    assert_namespaced_roles(docs, ["team-a", "team-b"])
    # Bound to the account the chart made, where it made it.
    made = only(docs, "ServiceAccount")["metadata"]
    assert account_of(docs) == {
        "kind": "ServiceAccount",
        **{k: made[k] for k in ("name", "namespace")},
    }
    # The token the in_cluster target authenticates with is mounted in the pod.
    assert only(docs, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"]


def test_kuberay_all_namespaces_example_gets_a_cluster_role() -> None:
    docs = render(*VALUES["kuberay-all-namespaces"])
    found = rbac(docs)
    assert not found["Role"] and not found["RoleBinding"]
    (role,) = found["ClusterRole"]
    (binding,) = found["ClusterRoleBinding"]
    assert role["rules"] == KUBERAY_RULES
    assert "namespace" not in role["metadata"] and "namespace" not in binding["metadata"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [account_of(docs)]
    assert only(docs, "ServiceAccount")["metadata"]["name"] == account_of(docs)["name"]
    # Cluster-wide names carry the release namespace: the same release elsewhere cannot clash.
    assert role["metadata"]["name"] == "jf-jobfleet-exporter-mon-kuberay"


def test_kuberay_roles_cover_the_namespaces_of_every_in_cluster_target_once() -> None:
    docs = render(
        *kuberay_targets(in_cluster("a", ["team-b", "team-a"]), in_cluster("b", ["team-b", "x"]))
    )
    assert_namespaced_roles(docs, ["team-a", "team-b", "x"])


def test_one_kuberay_target_of_every_namespace_makes_it_a_cluster_role() -> None:
    docs = render(*kuberay_targets(in_cluster("some", ["team-a"]), in_cluster("all")))
    found = rbac(docs)
    assert len(found["ClusterRole"]) == len(found["ClusterRoleBinding"]) == 1
    assert not found["Role"] and not found["RoleBinding"]
    # An empty list is every namespace too, as the exporter reads it.
    found = rbac(render(*kuberay_targets(in_cluster("empty", []))))
    assert len(found["ClusterRole"]) == 1 and not found["Role"]


@pytest.mark.parametrize("name", [name for name in VALUES if not name.startswith("kuberay")])
def test_no_rbac_and_no_token_without_a_kuberay_in_cluster_target(name: str) -> None:
    docs = render(*VALUES[name])
    if name == "all-on":  # it has one: without it, nothing
        assert rbac(docs)["Role"]
        targets = yaml.safe_load(rendered_config(docs))["targets"]
        others = [t for t in targets if t["backend"] != "kuberay"]
        docs = render(*VALUES[name], "--set-json", f"config.targets={json.dumps(others)}")
    assert not any(rbac(docs).values())
    for workload in workloads(docs):
        assert workload["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_a_kuberay_target_by_url_gets_no_rbac_and_no_token() -> None:
    """It authenticates with its own token, to its own API server: not as this account."""
    target = {"name": "remote", "backend": "kuberay", "url": "https://k8s.example.com:6443"}
    docs = render(*kuberay_targets(target))
    assert not any(rbac(docs).values())
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", ["kuberay", "kuberay-all-namespaces"])
def test_rbac_create_false_renders_none_but_keeps_the_token(name: str) -> None:
    docs = render(*VALUES[name], "--set", "rbac.create=false")
    assert not any(rbac(docs).values())
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True


def test_kuberay_rbac_binds_the_account_the_pods_use() -> None:
    docs = render(
        *VALUES["kuberay"], "--set", "serviceAccount.create=false",
        "--set", "serviceAccount.name=ray-reader",
    )  # fmt: skip
    assert not [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    assert account_of(docs)["name"] == "ray-reader"
    assert_namespaced_roles(docs, ["team-a", "team-b"])
    docs = render(*VALUES["kuberay"], "--set", "shards=2")
    assert only(docs, "StatefulSet")["spec"]["template"]["spec"]["automountServiceAccountToken"]
    assert_namespaced_roles(docs, ["team-a", "team-b"])


def test_a_token_in_another_directory_is_not_automounted() -> None:
    """service_account_dir elsewhere: the user mounts a token there (extraVolumes)."""
    target = {**in_cluster("own", ["team-a"]), "service_account_dir": "/var/run/secrets/ray"}
    docs = render(*kuberay_targets(target))
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert_namespaced_roles(docs, ["team-a"])  # still this account's token, still its Role


@pytest.mark.parametrize(
    ("namespaces", "message"),
    [
        (["${TEAM_NAMESPACE}"], 'KubeRay namespace "${TEAM_NAMESPACE}" is not a namespace name'),
        ("team-a", "namespaces must be a list"),
    ],
    ids=["placeholder", "not-a-list"],
)
def test_kuberay_namespaces_the_chart_cannot_make_roles_in_are_refused(namespaces, message) -> None:
    target = {**in_cluster("k"), "namespaces": namespaces}
    result = template(*kuberay_targets(target))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    if isinstance(namespaces, list):  # managing RBAC yourself, the chart need not know them
        assert not any(
            rbac(render(*kuberay_targets(target), "--set", "rbac.create=false")).values()
        )


SOURCE_RULES = [{**KUBERAY_RULES[0], "resources": ["rayclusters"]}]  # no RayJobs


def kuberay_source(name: str, **kuberay: object) -> dict:
    return {"name": name, "kuberay": kuberay, "template": {"backend": "ray"}}


def test_kuberay_discovery_example_gets_roles_that_read_only_rayclusters() -> None:
    docs = render(*VALUES["kuberay-discovery"])
    assert_namespaced_roles(docs, ["team-a", "team-b"], SOURCE_RULES)
    assert only(docs, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"]


def test_kuberay_sources_and_targets_share_the_roles() -> None:
    sources = [kuberay_source("a", in_cluster=True, namespaces=["team-b", "team-c"])]
    with_target = (
        *kuberay_targets(in_cluster("k", ["team-a", "team-b"])),
        "--set-json", f"config.discovery={json.dumps(sources)}",
    )  # fmt: skip
    assert_namespaced_roles(render(*with_target), ["team-a", "team-b", "team-c"])
    # every namespace: a ClusterRole, of RayClusters only without a KubeRay target
    sources = [kuberay_source("all", in_cluster=True), kuberay_source("far", url="https://k:6443")]
    docs = render("--set-json", f"config.discovery={json.dumps(sources)}")
    found = rbac(docs)
    assert not found["Role"] and len(found["ClusterRoleBinding"]) == 1
    assert [role["rules"] for role in found["ClusterRole"]] == [SOURCE_RULES]


def test_a_kuberay_source_by_url_gets_no_rbac_and_no_token() -> None:
    sources = [kuberay_source("far", url="https://k8s.example.com:6443", namespaces=["x"])]
    docs = render("--set-json", f"config.discovery={json.dumps(sources)}")
    assert not any(rbac(docs).values())
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False


def test_kuberay_source_namespaces_that_are_not_a_list_are_refused() -> None:
    sources = [kuberay_source("k", in_cluster=True, namespaces="team-a")]
    result = template("--set-json", f"config.discovery={json.dumps(sources)}")
    assert result.returncode != 0
    assert "config.discovery.0.kuberay.namespaces: Invalid type. Expected: array" in result.stderr


# --- the rendered config is one the exporter accepts ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", VALUES)
def test_rendered_config_passes_the_exporters_check(name: str, tmp_path: Path) -> None:
    docs = render(*VALUES[name])
    text = rendered_config(docs)
    secret_files = set(re.findall(re.escape(SECRETS_DIR) + r"([\w.-]+)", text))
    made = [doc for doc in docs if doc["kind"] == "Secret"]
    if made:  # every file the config names is a key of the chart's Secret
        assert secret_files <= set(made[0]["data"]), secret_files - set(made[0]["data"])
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for file in secret_files:
        (secrets / file).write_text(f"dummy-{file}\n")
    text = text.replace(SECRETS_DIR, f"{secrets}/")
    if in_cluster_targets(docs) or in_cluster_sources(docs):  # what the kubelet mounts
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text("dummy-token\n")
        shutil.copy(certifi.where(), account / "ca.crt")
        parsed = yaml.safe_load(text)
        for target in filter(calls_this_cluster, parsed["targets"]):
            target["service_account_dir"] = str(account)
        for source in parsed.get("discovery", []):
            if (source.get("kuberay") or {}).get("in_cluster") is True:
                source["kuberay"]["service_account_dir"] = str(account)
        text = yaml.safe_dump(parsed, sort_keys=False)
    config = tmp_path / "config.yaml"
    config.write_text(text)
    # The container's plain environment (for ${NAME} in the config), and nothing of ours but
    # the API server's address, which Kubernetes gives every container (enableServiceLinks or
    # not).
    container = workloads(docs)[0]["spec"]["template"]["spec"]["containers"][0]
    environ = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    environ["PATH"] = os.environ.get("PATH", "")
    environ |= {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(config), "--check-config"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=environ, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    targets = yaml.safe_load(text)["targets"]
    assert result.stdout.startswith(f"configuration OK: {len(targets)} target(s)")
    assert yaml.safe_load(text)["state_file"] == "/var/lib/jobfleet-exporter/state.json"


# --- discovery -------------------------------------------------------------------------------

SD_DIR = "/etc/jobfleet-exporter/sd"
FILE_SOURCE = '[{"name": "fleet", "file": {"paths": ["/etc/jobfleet-exporter/sd/*.json"]}, ' \
    '"template": {"backend": "ray"}}]'  # fmt: skip
HTTP_SOURCE = '[{"name": "fleet", "http": {"url": "https://sd.example/ray", "timeout": "5s", ' \
    '"credentials": {"token_file": "/etc/jobfleet-exporter/secrets/sd"}}, ' \
    '"template": {"backend": "ray"}}]'  # fmt: skip


def test_discovery_example_carries_its_sources_and_mounts_the_files() -> None:
    docs = render(*VALUES["discovery"])
    config = yaml.safe_load(rendered_config(docs))
    assert config["targets"] == []
    (source,) = config["discovery"]
    assert source["template"]["backend"] == "ray"
    (glob,) = source["file"]["paths"]
    (sd_map,) = [d for d in docs if d["metadata"]["name"] == "jf-jobfleet-exporter-sd"]
    assert sd_map["kind"] == "ConfigMap"
    assert sd_map["data"], "no file_sd files"
    for name, content in sd_map["data"].items():
        assert fnmatch.fnmatch(f"{SD_DIR}/{name}", glob), (name, glob)
        assert json.loads(content)[0]["targets"]  # target groups, as the exporter reads them
    pod = workloads(docs)[0]["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == SD_DIR]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == sd_map["metadata"]["name"]


def test_no_discovery_files_no_configmap_and_no_mount() -> None:
    docs = render()
    maps = [d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"]
    assert maps == ["jf-jobfleet-exporter"]
    pod = workloads(docs)[0]["spec"]["template"]["spec"]
    assert all(m["mountPath"] != SD_DIR for m in pod["containers"][0]["volumeMounts"])


@pytest.mark.parametrize("sources", [FILE_SOURCE, HTTP_SOURCE], ids=["file", "http"])
def test_a_discovery_source_without_targets_passes_the_schema(sources: str) -> None:
    args = ("--set-json", "config.targets=[]", "--set-json", f"config.discovery={sources}")
    docs = render(*args)
    assert yaml.safe_load(rendered_config(docs))["discovery"] == json.loads(sources)
    linted = run(helm(), "lint", "--strict", str(CHART), *args)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--set-json", "config.targets=[]"),
        ("--set-json", "config.targets=[]", "--set-json", "config.discovery=[]"),
        ("--set", "config.targets=null"),
    ],
    ids=["empty", "no-sources", "no-targets-key"],
)
def test_neither_targets_nor_a_discovery_source_fails_the_schema(args: tuple[str, ...]) -> None:
    result = template(*args)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    # What is missing, named: a target (the discovery alternative is in the schema's description).
    wanted = r"- config(\.targets: Array must have at least 1 items|: targets is required)\n"
    assert re.search(wanted, result.stderr), result.stderr
    linted = run(helm(), "lint", "--strict", str(CHART), *args)
    assert linted.returncode != 0


# --- values: described, and refused when wrong ---------------------------------------------


def test_schema_and_readme_cover_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    readme = (CHART / "README.md").read_text()

    def walk(node: dict, described: dict, path: str) -> None:
        for key, value in node.items():
            assert key in described["properties"], f"{path}{key} is not in values.schema.json"
            inner = described["properties"][key]
            if inner.get("additionalProperties") is False and isinstance(value, dict):
                walk(value, inner, f"{path}{key}.")

    assert schema["additionalProperties"] is False
    walk(values, schema, "")
    assert set(schema["properties"]) - set(values) == {"global"}
    for key in values:
        assert f"`{key}" in readme, f"{key} is not in the chart's README"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "shards=0"), "shards: Must be greater than or equal to 1"),
        (("--set", "replicaCount=0"), "replicaCount: Must be greater than or equal to 1"),
        (("--set", "logLevel=loud"), "logLevel: logLevel must be one of the following"),
        (("--set", "logFormat=xml"), "logFormat: logFormat must be one of the following"),
        (("--set", "shard=2"), "Additional property shard is not allowed"),
        (("--set", "serviceMonitor.intervall=1m"), "Additional property intervall"),
        (("--set-json", "config.targets=[]"), "config.targets: Array must have at least 1"),
        (("--set", "rbac.create=maybe"), "rbac.create: Invalid type"),
        (
            (
                "--set-json",
                'config.discovery=[{"name": "a", "file": {"paths": ["/x"]}, '
                '"http": {"url": "http://sd"}, "template": {}}]',
            ),
            "config.discovery.0: Must validate one and only one schema (oneOf)",
        ),
        (
            (
                "--set-json",
                'config.discovery=[{"name": "a", "file": {"paths": ["/x"]}, '
                '"template": {"backend": "ray", "url": "http://ray:8265"}}]',
            ),
            'config.discovery.0.template: Property name of "url" does not match',
        ),
        (
            ("--set", "discoveryFiles.a/b=x"),
            'discoveryFiles: Property name of "a/b" does not match',
        ),
        (
            ("--set", "extraEnv[0].name=K", "--set", "extraEnv[0].valueFrom.secretKeyRef.name=s"),
            "Additional property secretKeyRef is not allowed",
        ),
    ],
    ids=[
        "shards",
        "replicas",
        "log-level",
        "log-format",
        "unknown",
        "typo",
        "targets",
        "rbac",
        "discovery-kind",
        "discovery-template",
        "discovery-file-name",
        "env",
    ],
)
def test_schema_refuses_wrong_values(args: tuple[str, ...], message: str) -> None:
    result = template(*args)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr
    linted = run(helm(), "lint", "--strict", str(CHART), *args)
    assert linted.returncode != 0 and message in linted.stdout + linted.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "secrets.a=b", "--set", "existingSecret=c"), "not both"),
        (("--set", "shards=2", "--set", "replicaCount=2"), "leave replicaCount at 1"),
        (("--set", "persistence.enabled=true", "--set", "replicaCount=2"), "one state file"),
        (
            ("--set", "persistence.enabled=true,persistence.existingClaim=x,shards=2"),
            "cannot be shared by shards",
        ),
    ],
    ids=["secrets", "replicas", "persistence", "claim"],
)
def test_chart_refuses_combinations_that_cannot_work(args: tuple[str, ...], message: str) -> None:
    result = template(*args)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
