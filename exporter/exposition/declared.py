"""Every family a scrape can show: the exporter's (``families``) and the process and Python
families of client_python (``RUNTIME_FAMILIES``), which are rendered at each scrape
(``runtime``) and not stored, but are in the contract as much as the exporter's own."""

from __future__ import annotations

from exporter.exposition.families import FAMILIES
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
# Label names the exporter writes itself: an attribution label may not take one.
EXPORTER_LABELS = frozenset(
    name
    for family in (*FAMILIES.values(), *RUNTIME_FAMILIES.values())
    for name in family.label_names
)
DECLARED: dict[str, Family] = {**FAMILIES, **RUNTIME_FAMILIES}
