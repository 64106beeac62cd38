"""client_model's reference ``metrics.proto`` (tests/data/client_model/), compiled at test time
by protoc from grpcio-tools into message classes of the ``protobuf`` package, and a reader of
delimited bodies with them: the other side of ``exporter/exposition/protobuf.py``."""

from __future__ import annotations

import functools
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc

DATA = Path(__file__).parent / "data" / "client_model"
PACKAGE = "io.prometheus.client"


@functools.cache
def message_class(name: str) -> Any:
    """The class of message ``name`` (``MetricFamily``, ``Histogram``, ...) of metrics.proto."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{PACKAGE}.{name}"))


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    include = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.pb"
        args = ["protoc", f"-I{DATA}", f"-I{include}", "--include_imports"]
        code = protoc.main([*args, f"--descriptor_set_out={out}", "metrics.proto"])
        assert code == 0, "protoc could not compile tests/data/client_model/metrics.proto"
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:  # google/protobuf/timestamp.proto first: --include_imports
        pool.Add(file)
    return pool


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at ``at`` and the offset after it (the delimiter of each message)."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def parse_delimited(body: bytes) -> list[Any]:
    """Every MetricFamily of a delimited body, parsed by the reference classes."""
    family = message_class("MetricFamily")
    out, at = [], 0
    while at < len(body):
        size, at = read_varint(body, at)
        assert at + size <= len(body), "a MetricFamily runs past the end of the body"
        out.append(family.FromString(body[at : at + size]))
        at += size
    return out
