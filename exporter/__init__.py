"""jobfleet-exporter: Prometheus metrics for Ray and AI jobs across compute platforms.

``__version__`` is the one place the version is set: the package metadata (pyproject.toml),
``--version`` and ``jobfleet_build_info`` read it, and tests check that the Dockerfile's default
and the Helm chart's appVersion agree with it.
"""

from pathlib import Path

__version__ = "0.1.0"


def _revision() -> str:
    """The git commit the package was built from, or "unknown".

    Builds write it into the package's ``REVISION`` file: the image build from its ``REVISION``
    build argument, the release from the tagged commit. A checkout has no such file.
    """
    try:
        lines = (Path(__file__).parent / "REVISION").read_text().split()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return lines[0][:64] if lines else "unknown"


__revision__ = _revision()
