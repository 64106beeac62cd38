from collections.abc import Iterator

import pytest

from exporter.simulators.ray import RaySimulator


def _simulator(flavour: str) -> Iterator[RaySimulator]:
    with RaySimulator(flavour=flavour) as simulator:
        yield simulator


@pytest.fixture
def ray_sim() -> Iterator[RaySimulator]:
    yield from _simulator("ray")


@pytest.fixture
def yuanrong_sim() -> Iterator[RaySimulator]:
    yield from _simulator("openyuanrong")
