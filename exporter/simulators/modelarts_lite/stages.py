"""The stages of a training job (``GET /v2/{project_id}/training-jobs/{id}/stages``), as the
SDK's ``ListTrainingJobStagesResponse`` has them: one running record (no rescheduling is
simulated) holding the main stages reached so far, in order: ``scheduling`` from creation until
the job runs, ``preparing`` for its first ``PREPARE_MS`` of running, ``running``, and ``end``
when it ended; each with its sub-stages.

The API types the stage times as strings and gives no example of them: the simulator writes
epoch milliseconds as decimal text (``"1735790400000"``); a stage not over has no
``end_time``.
"""

from __future__ import annotations

from typing import Any

from exporter.simulators.modelarts_lite.training_job import TrainingJob

PREPARE_MS = 5_000
MESSAGES = {  # stage -> (English, Chinese)
    "scheduling": ("The job is being scheduled.", "作业调度中"),
    "preparing": ("The environment is being prepared.", "环境准备中"),
    "running": ("The job is running.", "作业运行中"),
    "end": ("The job has ended.", "作业已结束"),
}
SUB_STAGES = {
    "scheduling": (("queuing", "Waiting for resources.", "排队中"),),
    "preparing": (
        ("image_pulling", "Pulling the image.", "拉取镜像"),
        ("data_downloading", "Downloading code and data.", "下载代码和数据"),
    ),
    "running": (("training", "Training.", "训练中"),),
    "end": (("exited", "The job exited.", "作业退出"),),
}


def _bounds(job: TrainingJob) -> list[tuple[str, int, int | None]]:
    """(stage, start ms, end ms or None) of each stage the job reached."""
    if job.start_ms is None:  # still waiting, or ended before it ran
        return [("scheduling", job.create_ms, job.end_ms)] + (
            [("end", job.end_ms, job.end_ms)] if job.end_ms is not None else []
        )
    prepared = job.start_ms + PREPARE_MS
    if job.end_ms is not None:
        prepared = min(prepared, job.end_ms)
    stages = [
        ("scheduling", job.create_ms, job.start_ms),
        ("preparing", job.start_ms, prepared),
    ]
    if job.end_ms is None or job.end_ms > prepared:
        stages.append(("running", prepared, job.end_ms))
    if job.end_ms is not None:
        stages.append(("end", job.end_ms, job.end_ms))
    return stages


def stage_records(job: TrainingJob, now_ms: int) -> dict[str, Any]:
    """The answer for ``job`` at ``now_ms``: stages not yet begun are left out."""
    stages = []
    for order, (name, start, end) in enumerate(_bounds(job), start=1):
        if start > now_ms:
            break
        english, chinese = MESSAGES[name]
        stage: dict[str, Any] = {
            "job_id": job.id,
            "name": name,
            "en_message": english,
            "zh_message": chinese,
            "start_time": str(start),
            "stage_order": order,
            "sub_stages": [
                {"name": sub, "en_message": en, "zh_message": zh, "create_time": str(start)}
                for sub, en, zh in SUB_STAGES[name]
            ],
        }
        if end is not None and end <= now_ms:
            stage["end_time"] = str(end)
        stages.append(stage)
    return {"total_count": 1, "running_records": [{"record_order": 1, "stages": stages}]}
