"""Resource flavors: what a pool node of each flavor holds, and how much of a node a training
job's flavor takes.

A node flavor has ``slots``: its accelerator cards (a CPU flavor has one slot, the whole node).
A job flavor takes ``cards`` slots of a node per replica: ``modelarts.pool.visual.xlarge`` one
card, ``2xlarge`` two, ``4xlarge`` four, ``8xlarge`` eight (the SDK's values for dedicated GPU
and Ascend pools); a job on a CPU pool names the node flavor itself and takes the whole node.
A replica never spans two nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flavor:
    """A node flavor: ``kind`` CPU, GPU or Ascend; memory in GiB; accelerator cards, their
    product, memory and the Kubernetes resource name nodes report them by."""

    id: str
    kind: str
    cpu: int
    memory_gi: int
    arch: str = "x86_64"
    cards: int = 0
    product: str = ""
    card_memory: str = ""
    resource: str = ""
    disk_gb: int = 100
    billing_code: str = ""

    @property
    def slots(self) -> int:
        return self.cards or 1


NODE_FLAVORS = {
    flavor.id: flavor
    for flavor in (
        Flavor("modelarts.vm.cpu.16u64g.d", "CPU", 16, 64, billing_code="modelarts.vm.cpu.16u"),
        Flavor(
            "modelarts.vm.gpu.8v100nv32",
            "GPU",
            64,
            512,
            cards=8,
            product="NVIDIA-V100-NV32",
            card_memory="32GB",
            resource="nvidia.com/gpu",
            disk_gb=800,
            billing_code="modelarts.vm.gpu.v100",
        ),
        Flavor(
            "modelarts.bm.npu.arm.8snt9b3.d",
            "Ascend",
            192,
            1536,
            arch="aarch64",
            cards=8,
            product="Ascend-snt9b",
            card_memory="64GB",
            resource="huawei.com/ascend-snt9",
            disk_gb=3200,
            billing_code="modelarts.bm.npu.snt9b",
        ),
    )
}
# A job flavor of a dedicated pool -> the cards it takes of a node
JOB_FLAVORS = {
    "modelarts.pool.visual.xlarge": 1,
    "modelarts.pool.visual.2xlarge": 2,
    "modelarts.pool.visual.4xlarge": 4,
    "modelarts.pool.visual.8xlarge": 8,
}
# What a job of the public pool (no pool of the project's own) runs on
PUBLIC_FLAVOR = Flavor("modelarts.vm.cpu.8ud", "CPU", 8, 32, billing_code="modelarts.vm.cpu.8ud")


def cards_of(job_flavor: str, node: Flavor) -> int:
    """The slots a replica of ``job_flavor`` takes on a node of ``node``'s flavor."""
    if job_flavor == node.id:
        return node.slots
    if job_flavor not in JOB_FLAVORS or not node.cards:
        raise ValueError(f"flavor {job_flavor} does not run on {node.id}")
    return min(JOB_FLAVORS[job_flavor], node.cards)


def whole_nodes(node: Flavor) -> str:
    """The job flavor that takes a whole node of ``node``'s flavor."""
    return "modelarts.pool.visual.8xlarge" if node.cards == 8 else node.id


def share(node: Flavor, slots: int) -> dict[str, Any]:
    """What ``slots`` slots of a node hold: CPU cores, memory GiB and cards."""
    return {
        "cpu": node.cpu * slots // node.slots,
        "memory_gi": node.memory_gi * slots // node.slots,
        "cards": slots if node.cards else 0,
    }


def flavor_info(node: Flavor, slots: int, max_num: int) -> dict[str, Any]:
    """The SDK's ``FlavorInfo``: ``slots`` slots of a ``node`` flavor, as a job's flavor."""
    held = share(node, slots)
    info: dict[str, Any] = {
        "max_num": max_num,
        "cpu": {"arch": node.arch, "core_num": held["cpu"]},
        "memory": {"size": held["memory_gi"], "unit": "GB"},
        "disk": {"size": str(node.disk_gb * slots // node.slots), "unit": "GB"},
    }
    cards = {"product_name": node.product, "memory": node.card_memory}
    if node.kind == "GPU":
        info["gpu"] = {"unit_num": held["cards"], **cards}
    if node.kind == "Ascend":
        info["npu"] = {"unit_num": str(held["cards"]), **cards}
    return info
