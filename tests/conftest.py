import os
from collections.abc import Iterator

# A sample that breaks the metrics contract raises where it is written (exposition.contract),
# here and in the processes the tests start with this environment.
os.environ["JOBFLEET_STRICT_METRICS"] = "1"

import pytest

from exporter.simulators.kuberay import KubeRaySimulator
from exporter.simulators.ray import RaySimulator

KUBERAY_START = 1_800_000_000.0


def _simulator(flavour: str) -> Iterator[RaySimulator]:
    with RaySimulator(flavour=flavour) as simulator:
        yield simulator


@pytest.fixture
def ray_sim() -> Iterator[RaySimulator]:
    yield from _simulator("ray")


@pytest.fixture
def yuanrong_sim() -> Iterator[RaySimulator]:
    yield from _simulator("openyuanrong")


@pytest.fixture
def kuberay_sim() -> Iterator[KubeRaySimulator]:
    """A KubeRay simulator on a fake clock: ``fake_now[0]``, from ``KUBERAY_START``."""
    now = [KUBERAY_START]
    simulator = KubeRaySimulator(clock=lambda: now[0], seed=7)
    simulator.fake_now = now  # type: ignore[attr-defined]
    with simulator:
        yield simulator


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Captured output as text any stream can carry: tests feed lone surrogates to the
    exporter on purpose, and a parallel run (pytest-xdist) sends reports between processes
    as strict UTF-8."""
    report.sections = [
        (title, text.encode("utf-8", "backslashreplace").decode("utf-8"))
        for title, text in report.sections
    ]
