"""A training job as a search answers it: every part of the SDK's ``JobResponse`` a custom job
(``kind: job``) of the code-directory-and-boot-file form has.

Left out, as the API leaves them out of such a job: ``tasks`` (heterogeneous jobs),
``ftjob_config`` (fine-tuning jobs), the algorithm's other forms (``id``,
``subscription_id``/``item_version_id``) and auto-search parts (``autosearch_*``,
``policies``), a dataset input (``inputs[].remote.dataset``: the input is an OBS path), a pool
federation (``spec.resource.pool_group_id``), a customized flavor
(``spec.resource.main_container_customized_flavor``), a published model (``spec.asset_model``),
``status.retention_time`` (set only with ``reserved_time``), and ``status.task_ips`` unless the
search names ``host_ips``.
"""

from __future__ import annotations

from typing import Any

from exporter.simulators.modelarts_lite.flavors import flavor_info, share
from exporter.simulators.modelarts_lite.training_job import TrainingJob

BUCKET = "obs://modelarts-sim"


def rendered(job: TrainingJob, now_ms: int, jittered_ms: Any, host_ips: set[str]) -> dict:
    """The job as an item of a search answer at ``now_ms``."""
    return {
        "kind": "job",
        "metadata": job.metadata(jittered_ms),
        "status": job.status(now_ms, jittered_ms, host_ips),
        "algorithm": _algorithm(job),
        "spec": _spec(job),
        "endpoints": _endpoints(job),
    }


def _algorithm(job: TrainingJob) -> dict[str, Any]:
    engine, version = job.engine
    code = f"{BUCKET}/{job.name}/code/"
    return {
        "name": job.name,
        "code_dir": code,
        "boot_file": f"{code}train.py",
        "command": "python train.py",
        "parameters": [
            {
                "name": "epochs",
                "value": "10",
                "description": "training epochs",
                "constraint": {
                    "type": "Integer",
                    "editable": True,
                    "required": False,
                    "sensitive": False,
                    "valid_type": "None",
                    "valid_range": [],
                },
                "i18n_description": {"language": "en-us", "description": "training epochs"},
            }
        ],
        "inputs": [
            {
                "name": "data_url",
                "description": "training data",
                "local_dir": "/home/ma-user/modelarts/inputs/data_url_0",
                "access_method": "parameter",
                "remote": {"obs": {"obs_url": f"{BUCKET}/data/"}},
                "remote_constraint": [{"data_type": "obs", "attributes": "data_format"}],
            }
        ],
        "outputs": [
            {
                "name": "train_url",
                "description": "model output",
                "local_dir": "/home/ma-user/modelarts/outputs/train_url_0",
                "access_method": "parameter",
                "remote": {"obs": {"obs_url": f"{BUCKET}/{job.name}/output/"}},
            }
        ],
        "engine": {
            "engine_id": f"{engine.lower()}-{version}",
            "engine_name": engine,
            "engine_version": version,
            "image_url": f"atelier/{version}:20250101",
            "install_sys_packages": True,
            "image_repo_id": "",
        },
        "local_code_dir": "/home/ma-user/modelarts/user-job-dir",
        "working_dir": "/home/ma-user/modelarts/user-job-dir/code",
        "environments": [{"TRAINING_STAGE": "train"}],
        "summary": {
            "log_type": "tensorboard",
            "log_dir": {"pfs": {"pfs_path": f"{BUCKET}/{job.name}/summary/"}},
            "data_sources": [{"job": {"job_id": job.id}}],
        },
    }


def _spec(job: TrainingJob) -> dict[str, Any]:
    held = share(job.node, job.cards)
    return {
        "resource": {
            "policy": "regular",
            "flavor_id": job.flavor_id,
            "flavor_name": f"{job.node.kind}: {job.cards} slot(s) of {job.node.id}",
            "node_count": job.node_count,
            "pool_id": job.pool_id,
            "pool_name": job.pool_name,
            "flavor_detail": {
                "flavor_type": job.node.kind,
                "billing": {"code": job.node.billing_code, "unit_num": job.cards},
                "flavor_info": flavor_info(job.node, job.cards, max_num=16),
            },
            "main_container_allocated_resources": {
                "cpu_arch": job.node.arch,
                "cpu_core_num": float(held["cpu"]),
                "mem_size": float(held["memory_gi"]),
                "accelerator_num": float(held["cards"]),
                "accelerator_type": job.node.product.lower(),
            },
        },
        "volumes": [
            {
                "nfs": {
                    "nfs_server_path": "192.168.0.8:/datasets",
                    "local_path": "/mnt/datasets",
                    "read_only": True,
                }
            }
        ],
        "log_export_path": {
            "obs_url": f"{BUCKET}/{job.name}/logs/",
            "host_path": f"/var/log/modelarts/{job.id}",
        },
        "schedule_policy": {
            "required_affinity": {
                "affinity_type": "cabinet",
                "job_level": "",
                "affinity_group_size": job.node_count,
                "affinity_group_level": "",
            },
            "priority": 1,
            "preemptible": False,
        },
        "custom_metrics": [
            {"exec": {"command": ["cat", "/tmp/metrics"]}, "http_get": {"path": "", "port": 0}}
        ],
        "output_model": {
            "obs": {
                "obs_path": f"{BUCKET}/{job.name}/model/",
                "local_path": "/home/ma-user/modelarts/outputs/model",
            }
        },
    }


def _endpoints(job: TrainingJob) -> dict[str, Any]:
    """Remote access to the job; the tokens are secrets."""
    base = f"https://modelarts-sim.example.com/training/{job.id}"
    return {
        "ssh": {
            "key_pair_names": ["KeyPair-sim"],
            "task_urls": [
                {"task": task, "url": f"ssh://{task}.{job.id}:22"} for task in job.tasks()
            ],
        },
        "jupyter_lab": {"url": f"{base}/lab", "token": f"jl-{job.id[:8]}-secret"},
        "tensorboard": {"url": f"{base}/tensorboard", "token": f"tb-{job.id[:8]}-secret"},
        "mindstudio_insight": {"url": f"{base}/insight", "token": f"mi-{job.id[:8]}-secret"},
    }
