"""Memory of reading one answer: peak RSS per answer byte, for answers at ``max_response_bytes``.

An answer of minimal job items (only an id: ``{"job_id":"0a1b"}``) at the byte cap, read as it
is and with the item limit off (``ITEM_FLOOR`` 1: the previous design), and one of dense items
of ``items.ITEM_FLOOR`` bytes (every field the backend reads, short values: the most items an
answer may list, each holding the most a record keeps: the worst that is read), served over
HTTP on loopback to each backend's reader. Each read runs in a fresh process (``python -m
bench.answer_memory child KIND URL MAX_BYTES FLOOR``), which lists an empty answer first (what
a first read sets up), notes its RSS, resets its peak (``/proc/self/clear_refs``), lists the
jobs once and reports the peak: what reading the answer took (fetch, count, decode, parse into
``Job`` records), not what the ledger keeps of them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .common import ROOT, table

KINDS = ("ray", "emr_serverless", "modelarts_lite")
WORKSPACE, PROJECT = "w-bench00000001", "0123456789abcdef0123456789abcdef"
# an item with only an id, the least a job is made of (~14-24 bytes)
MINIMAL = {
    "ray": '"job_id":"{id}"',
    "emr_serverless": '"submissionId":"{id}"',
    "modelarts_lite": '"id":"{id}"',
}
# an item with every field the backend reads, short values: the most a record holds per byte
DENSE = {
    "ray": '"submission_id":"{id}","job_id":"j{id}","status":"RUNNING","type":"SUBMISSION",'
    '"start_time":1700000000,"end_time":1700000001,"error_type":"E","entrypoint":"python",'
    '"metadata":{{"job_name":"n{id}","owner":"o"}}',
    "emr_serverless": '"submissionId":"{id}","status":"Running","resourceQueue":"q",'
    '"cuHours":1.5,"name":"n{id}","submitTime":1700000000000,"startTime":1700000000000,'
    '"endTime":1700000000001,"clusterState":"Running","creatorName":"c{id}"',
    "modelarts_lite": '"id":"{id}","status":"PROCESSING","abnormal_count":0,'
    '"update_at":1700000000000,"name":"n{id}","type":"COMMON","create_at":1700000000000',
}


def _id(index: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        index, digit = divmod(index, 36)
        text = digits[digit] + text
        if not index:
            return text.rjust(4, "0")


def job_list(kind: str, size: int, item_bytes: int | None = None) -> tuple[bytes, int]:
    """(an answer of ``kind`` of at most ``size`` bytes, the items it lists): minimal items
    (an id only), or, given ``item_bytes``, items of every field read (``DENSE``) padded with
    a key no reader reads to ``item_bytes`` each, comma included."""
    head, tail = {"ray": (b"[", b"]"), "emr_serverless": (b'{"rayJobs":[', b"]")}.get(
        kind, (b'{"data":[', b"]")
    )
    items, used, index = [], len(head) + len(tail) + 64, 0
    while True:
        fields = (MINIMAL if item_bytes is None else DENSE)[kind].format(id=_id(index))
        if item_bytes is not None:
            pad = item_bytes - len(fields) - len('{,"p":""},')
            assert pad >= 0, f"{kind}: a dense item is longer than {item_bytes} bytes"
            fields += f',"p":"{"p" * pad}"'
        item = f"{{{fields}}}".encode()
        if used + len(item) + 1 > size:
            break
        items.append(item)
        used += len(item) + 1
        index += 1
    count = len(items)
    body = head + b",".join(items) + tail
    if kind == "emr_serverless":
        body += b',"totalCount":%d}' % count
    elif kind == "modelarts_lite":
        body += b',"current":1,"pages":1,"size":%d,"total":%d}' % (count, count)
    return body, count


def empty_answer(kind: str, total: int = 0) -> bytes:
    """An answer listing no job (EMR: a page past the last of ``total`` jobs)."""
    return {
        "ray": b"[]",
        "emr_serverless": b'{"rayJobs":[],"totalCount":%d}' % total,
        "modelarts_lite": b'{"data":[],"current":1,"pages":1,"size":0,"total":0}',
    }[kind]


@contextlib.contextmanager
def serving(kind: str, body: bytes, count: int) -> Iterator[str]:
    """``body``, listing ``count`` jobs, as the job list of ``kind`` on 127.0.0.1 (EMR: its
    first page; the next ones empty), and an empty one under ``/warm-up/``; yields the base
    URL, stops the server after."""
    empty = empty_answer(kind, count)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            page = parse_qs(url.query).get("pageNum", ["1"])[0]
            answer = empty if url.path.startswith("/warm-up/") or page != "1" else body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(ConnectionError):  # a reader that stops early hangs up
                self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def target(kind: str, url: str, max_response_bytes: int, name: str = "bench") -> dict[str, Any]:
    settings = {"name": name, "max_response_bytes": max_response_bytes, "timeout": "5m"}
    if kind == "ray":
        return {**settings, "backend": "ray", "url": url, "resources": ["jobs"]}
    if kind == "emr_serverless":
        return {
            **settings,
            "backend": kind,
            "endpoint": url,
            "workspace_id": WORKSPACE,
            "requests_per_second": 1000,
            "resources": ["jobs"],
            "credentials": {"access_key_id": "bench-id", "access_key_secret": "bench-secret"},
        }
    return {
        **settings,
        "backend": kind,
        "endpoint": url,
        "project_id": PROJECT,
        "requests_per_second": 1000,
        "credentials": {"access_key": "bench-ak", "secret_key": "bench-sk"},
    }


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(kind: str, url: str, max_response_bytes: int, floor: int) -> dict[str, Any]:
    """In a fresh process: list the jobs of ``url`` once; RSS before and peak during."""
    from exporter.backends import create_backend
    from exporter.config.parse import parse_config
    from exporter.errors import PollError
    from exporter.http import items
    from exporter.polling.health import ApiStats

    items.ITEM_FLOOR = floor
    warm_up, backend = (
        create_backend(configured, ApiStats())
        for configured in parse_config(
            {
                "targets": [
                    target(kind, f"{url}/warm-up", max_response_bytes, "warm-up"),
                    target(kind, url, max_response_bytes),
                ]
            }
        ).targets
    )
    warm_up.list_jobs(time.monotonic() + 60)  # what a first read sets up, before the baseline
    warm_up.close()
    items.count_items(b"[{},{}]", 2)  # the counter's first use
    gc.collect()
    before = _status("VmRSS")
    peak_reset = True
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here: this read's peak
    except OSError:
        peak_reset = False  # then the peak since start, at least what the read took
    started = time.monotonic()
    result: dict[str, Any] = {"before": before, "peak_reset": peak_reset}
    try:
        listing = backend.list_jobs(time.monotonic() + 300)
        result["listed"] = len(listing.items)
    except PollError as err:
        result["error"] = [err.reason, str(err)]
    result["seconds"] = time.monotonic() - started
    result["peak"] = _status("VmHWM")
    backend.close()
    return result


def measure(
    kind: str, answer: tuple[bytes, int], max_response_bytes: int, floor: int | None = None
) -> dict:
    """Serve ``answer`` (``job_list``) and read it in a fresh process (``floor``:
    ``ITEM_FLOOR`` there; 1 turns the item limit off); its result with ``increase``, the peak
    above the RSS before, and ``ratio``, that per answer byte."""
    if floor is None:
        from exporter.http.items import ITEM_FLOOR

        floor = ITEM_FLOOR
    body = answer[0]
    with serving(kind, *answer) as url:
        args = ["child", kind, url, str(max_response_bytes), str(floor)]
        done = subprocess.run(
            [sys.executable, "-m", "bench.answer_memory", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
    if done.returncode:
        raise RuntimeError(f"reader process failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.splitlines()[-1])
    result["bytes"] = len(body)
    result["increase"] = result["peak"] - result["before"]
    result["ratio"] = result["increase"] / len(body)
    return result


def run(max_response_bytes: int = 16 * 2**20) -> str:
    from exporter.http.items import ITEM_FLOOR

    rows = []
    for kind in KINDS:
        minimal = job_list(kind, max_response_bytes)
        dense = job_list(kind, max_response_bytes, ITEM_FLOOR)
        before = measure(kind, minimal, max_response_bytes, floor=1)
        now = measure(kind, minimal, max_response_bytes)
        worst = measure(kind, dense, max_response_bytes)
        rows.append(
            [
                kind,
                f"{minimal[1]:,} in {len(minimal[0]) / 2**20:.1f} MiB",
                f"{now['ratio']:.2f} ({now['error'][0] if 'error' in now else 'listed'})",
                f"{before['ratio']:.2f} ({before['error'][0] if 'error' in before else 'listed'})",
                f"{worst['ratio']:.2f} ({worst['error'][0] if 'error' in worst else 'listed'})",
            ]
        )
    return table(
        f"Answer memory: peak RSS per answer byte reading one answer of "
        f"max_response_bytes ({max_response_bytes / 2**20:.0f} MiB) (target: <= 4)",
        [
            "backend",
            "minimal items (an id)",
            "now",
            "no item limit (previous)",
            f"now, {dense[1]:,} dense {ITEM_FLOOR} B items",
        ],
        rows,
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        kind, url, limit, floor = sys.argv[2:6]
        print(json.dumps(child(kind, url, int(limit), int(floor))))
    else:
        print(run())
