from collections.abc import Iterator

import pytest

from exporter.simulators.ray import RaySimulator


@pytest.fixture
def ray_sim() -> Iterator[RaySimulator]:
    simulator = RaySimulator(flavour="ray")
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def yuanrong_sim() -> Iterator[RaySimulator]:
    simulator = RaySimulator(flavour="openyuanrong")
    simulator.start()
    yield simulator
    simulator.stop()
