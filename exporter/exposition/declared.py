"""Every family a scrape can show: those every backend shares (``families``), those a backend
declares for what only it reports (added by the registry as it registers the backend:
``declare_backend_families``), and the process and Python families of client_python
(``RUNTIME_FAMILIES``), which are rendered at each scrape (``runtime``) and not stored, but are
in the contract as much as the exporter's own.

The exposition never imports a backend: the backends hand their families over, so the set is
complete once ``exporter.backends`` is imported, which every entry point does before it renders.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from exporter.exposition.families import SHARED
from exporter.exposition.family import Family, index_families

_GC = ("generation",)
RUNTIME_FAMILIES: dict[str, Family] = index_families(
    [
        Family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent."),
        Family("process_max_fds", "gauge", "Maximum number of open file descriptors."),
        Family("process_open_fds", "gauge", "Number of open file descriptors."),
        Family("process_resident_memory_bytes", "gauge", "Resident memory size."),
        Family("process_start_time_seconds", "gauge", "Start time of the process (epoch)."),
        Family("process_virtual_memory_bytes", "gauge", "Virtual memory size."),
        Family("python_gc_collections_total", "counter", "Collections per generation.", _GC),
        Family("python_gc_objects_collected_total", "counter", "Objects collected.", _GC),
        Family("python_gc_objects_uncollectable_total", "counter", "Uncollectable objects.", _GC),
        Family(
            "python_info",
            "gauge",
            "Python platform information.",
            ("implementation", "major", "minor", "patchlevel", "version"),
        ),
    ]
)

_lock = threading.Lock()
_by_backend: dict[str, tuple[Family, ...]] = {}


class _Declared:
    """The sets as of the last change, replaced whole (readers never see one half made)."""

    families: dict[str, Family]
    everything: dict[str, Family]
    labels: frozenset[str]


def _index(by_backend: dict[str, tuple[Family, ...]]) -> dict[str, Family]:
    """The shared families, then each backend's (by backend name), one declaration once:
    ValueError for one that breaks the rules (``index_families``) or takes a declared name."""
    own = dict.fromkeys(f for name in sorted(by_backend) for f in by_backend[name])
    return index_families([*SHARED.values(), *own])


def _publish(families: dict[str, Family]) -> None:
    everything = {**families, **RUNTIME_FAMILIES}
    _Declared.labels = frozenset(n for family in everything.values() for n in family.label_names)
    _Declared.everything = everything
    _Declared.families = families


def declare_backend_families(backend: str, families: Iterable[Family]) -> None:
    """Add the families backend ``backend`` declares (replacing any it declared before);
    ValueError, and nothing added, for one the contract's rules refuse."""
    with _lock:
        by_backend = {**_by_backend, backend: tuple(families)}
        index = _index(by_backend)
        _by_backend.clear()
        _by_backend.update(by_backend)
        _publish(index)


def withdraw_backend_families(backend: str) -> None:
    """Forget the families ``backend`` declared (a backend registered for a while)."""
    with _lock:
        if _by_backend.pop(backend, None) is not None:
            _publish(_index(_by_backend))


def families() -> dict[str, Family]:
    """Every family the exporter's blocks can hold, in exposition order. Read-only."""
    return _Declared.families


def all_families() -> dict[str, Family]:
    """``families`` and the runtime's: every family a scrape can show. Read-only."""
    return _Declared.everything


def exporter_labels() -> frozenset[str]:
    """Label names the exporter writes itself: an attribution label may not take one."""
    return _Declared.labels


_publish(SHARED)
