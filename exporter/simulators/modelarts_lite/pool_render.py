"""Pools and nodes as the answers give them: every field of the SDK's ``PoolModel`` and
``Node``.

``status.resources`` holds, per the SDK's model, one ``PoolResourceFlavorCount`` each for
``creating`` (nodes ``Creating`` or ``Checking``), ``available``, ``abnormal`` and ``deleting``:
counts of the pool's first flavor (the model has room for one).
"""

from __future__ import annotations

from typing import Any

from exporter.simulators.modelarts_lite.common import rfc3339
from exporter.simulators.modelarts_lite.flavors import Flavor, share
from exporter.simulators.modelarts_lite.pool import Node, Pool

DOMAIN_ID = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
CLUSTER = "modelarts-sim-cluster"
OS = {"name": "EulerOS 2.10", "imageId": "img-euleros-210", "imageType": "", "autoMatch": ""}
STATUS_BUCKETS = {
    "creating": ("Creating", "Checking"),
    "available": ("Available",),
    "abnormal": ("Abnormal",),
    "deleting": ("Deleting",),
}


def _flavor_count(pool: Pool, flavor: Flavor, phases: tuple[str, ...]) -> dict[str, Any]:
    nodes = [n for n in pool.nodes.values() if n.flavor.id == flavor.id and n.phase in phases]
    azs = sorted({node.az for node in nodes})
    return {
        "flavor": flavor.id,
        "count": len(nodes),
        "maxCount": len(nodes),
        "azs": [{"az": az, "count": sum(n.az == az for n in nodes)} for az in azs],
        "nodePool": f"{pool.display}-default",
    }


def _spec_resource(pool: Pool, flavor: Flavor) -> dict[str, Any]:
    wanted = _flavor_count(pool, flavor, ("Available", "Creating", "Checking", "Abnormal"))
    del wanted["nodePool"]
    return {
        **wanted,
        "extendParams": {"dockerBaseSize": "50", "volumeGroup": "vgpaas", "runtime": "containerd"},
        "os": OS,
        "dataVolumes": {
            "volumeType": "GPSSD",
            "size": str(flavor.disk_gb),
            "count": "1",
            "extendParams": {"billing": "", "volumeGroup": "vgpaas"},
        },
        "volumeGroupConfigs": {
            "volumeGroup": "vgpaas",
            "dockerThinPool": 90,
            "lvmConfig": {"lvType": "linear"},
        },
    }


def pool_item(pool: Pool, project_id: str, region: str) -> dict[str, Any]:
    """A pool as ``ListPools`` gives it."""
    flavors = pool.flavors()
    return {
        "apiVersion": "v2",
        "kind": "Pool",
        "metadata": {
            "name": pool.name,
            "creationTimestamp": rfc3339(pool.created),
            "labels": _pool_labels(pool, project_id, region),
            "annotations": _pool_annotations(pool),
        },
        "spec": {
            "type": pool.pool_type,
            "scope": list(pool.scope),
            "resources": [_spec_resource(pool, flavor) for flavor in flavors],
            "containernetwork": {"mode": "overlay_l2"},
            "network": {"name": f"network-{pool.display}"},
            "jobFlavors": [f"modelarts.pool.visual.{size}large" for size in ("x", "2x", "4x")],
            "driver": {"gpuVersion": "535.54.03", "npuVersion": "24.1.0", "updateStrategy": "idle"},
            "controlMode": 0,
        },
        "status": {
            "phase": pool.phase,
            "message": pool.message,
            "resources": {
                bucket: _flavor_count(pool, flavors[0], phases) if flavors else None
                for bucket, phases in STATUS_BUCKETS.items()
            },
            "scope": [{"scopeType": scope, "state": "Enabled"} for scope in pool.scope],
            "driver": {
                "gpu": {"version": "535.54.03", "state": "Running"},
                "npu": {"version": "24.1.0", "state": "Running"},
            },
            "parent": "",
            "root": pool.name,
            "clusters": {
                "name": CLUSTER,
                "clusterFlavor": "cce.s2.small",
                "type": "VirtualMachine",
                "version": "v1.28",
                "plugins": {"name": "volcano"},
            },
        },
    }


def _pool_labels(pool: Pool, project_id: str, region: str) -> dict[str, str]:
    return {
        "os.modelarts/name": pool.display,
        "os.modelarts/workspace.id": pool.workspace_id,
        "os.modelarts/node.prefix": pool.display[:8],
        "os.modelarts/resource.id": f"{pool.name}-resource",
        "os.modelarts/tenant.domain.id": DOMAIN_ID,
        "os.modelarts/tenant.project.id": project_id,
        "os.modelarts/enterprise.project.id": "0",
        "os.modelarts.pool/biz": "private",
        "os.modelarts/create-from": "console",
        "os.modelarts/nobilling": "false",
        "os.modelarts/order.name": "",
        "os.modelarts/region": region,
        **pool.labels,
    }


def _pool_annotations(pool: Pool) -> dict[str, str]:
    return {
        "os.modelarts/description": f"{pool.display} of the simulator",
        "os.modelarts/billing.mode": "1" if pool.unpaid else "0",
        "os.modelarts/period.num": "1" if pool.unpaid else "",
        "os.modelarts/period.type": "2" if pool.unpaid else "",
        "os.modelarts/auto.renew": "0",
        "os.modelarts/promotion.info": "",
        "os.modelarts/service.console.url": "",
        "os.modelarts/order.id": "",
        "os.modelarts/flavor.resource.ids": "",
        "os.modelarts/tms.tags": "",
        "os.modelarts.pool/scheduler.queue.strategy": "fifo",
        "os.modelarts.pool/subpools.count": "0",
        "os.modelarts/tenant.domain.name": "modelarts_user",
        "os.modelarts.pool/scope.external.dependency.train": "",
    }


def _resources(flavor: Flavor, slots: int) -> dict[str, str]:
    """A ``NodeResource``: ``slots`` slots of a node, in the node's own units."""
    held = share(flavor, slots)
    resources = {"cpu": str(held["cpu"]), "memory": f"{held['memory_gi']}Gi"}
    if flavor.resource:
        resources[flavor.resource] = str(held["cards"])
    return resources


def node_item(node: Node, pool: Pool, project_id: str) -> dict[str, Any]:
    """A node as ``ListPoolNodes`` gives it; ``availableResources`` is what jobs leave free
    (nothing on a node that takes no jobs)."""
    free = node.free() if node.phase == "Available" else 0
    return {
        "apiVersion": "v2",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "creationTimestamp": rfc3339(node.created),
            "labels": _node_labels(node, pool, project_id),
            "annotations": _node_annotations(node),
        },
        "spec": {
            "flavor": node.flavor.id,
            "os": OS,
            "hostNetwork": {"vpc": "vpc-sim", "subnet": "subnet-sim", "securityGroups": ["sg-1"]},
            "rootVolume": {"volumeType": "GPSSD", "size": "150", "count": 1},
            "dataVolumes": [{"volumeType": "GPSSD", "size": str(node.flavor.disk_gb), "count": 1}],
            "extendParams": {
                "dockerBaseSize": "50",
                "postInstall": "",
                "runtime": "containerd",
                "labelPolicyOnExistingNodes": "refresh",
                "taintPolicyOnExistingNodes": "refresh",
                "tagPolicyOnExistingNodes": "refresh",
                "XParameterPlaneSubnet": "",
                "nodePoolName": f"{pool.display}-default",
            },
        },
        "status": {
            "phase": node.phase,
            "az": node.az,
            "privateIp": node.ip,
            "resources": _resources(node.flavor, node.flavor.slots),
            "availableResources": _resources(node.flavor, free),
        },
    }


def _node_labels(node: Node, pool: Pool, project_id: str) -> dict[str, str]:
    return {
        "os.modelarts.node/cluster": CLUSTER,
        "os.modelarts.node/elastic.quota": pool.name,
        "os.modelarts.node/nodepool": f"{pool.name}-default",
        "os.modelarts.node/batch.uid": f"{pool.name}-batch-1",
        "os.modelarts.node/batch.name": "batch-1",
        "os.modelarts.node/batch.type": "hyperinstance",
        "os.modelarts.node/batch.count": str(len(pool.nodes)),
        "os.modelarts.node/spod.id": "spod-1",
        "os.modelarts/resource.id": f"{node.name}-resource",
        "os.modelarts/tenant.domain.id": DOMAIN_ID,
        "os.modelarts/tenant.project.id": project_id,
        "os.modelarts/billing.status": "0",
        "os.modelarts.node/volcano.scheduler.cabinet-exclusive": "",
        "cce.kubectl.kubernetes.io/cabinet": "10.0.0.1",
        "os.modelarts.node/underlying.instance.id": f"ecs-{node.name}",
        "os.modelarts.node/ha.redundant.enabled": "false",
        "os.modelarts.node/nodepoolname": f"{pool.display}-default",
    }


def _node_annotations(node: Node) -> dict[str, str]:
    """An Ascend node tells which of its cards jobs hold (bit 0, on the right, is card 1)."""
    if node.flavor.kind != "Ascend":
        return {}
    used = sum(node.held.values())
    return {"os.modelarts/npu-topology-placement": format((1 << used) - 1, "016b")}
