"""Backends: each turns one API's JSON into the shared records, and declares itself in the
registry. Importing this package imports each of its modules, so a module that declares a
backend is all it takes to add one."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from exporter.backends import registry
from exporter.backends.base import Backend, Listing
from exporter.config.types import ConfigError, Target
from exporter.polling.health import ApiStats


def _import_modules() -> tuple[registry.BackendDeclaration, ...]:
    """Import every module of this package (a backend module registers itself when imported);
    the backends declared then."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return registry.declarations()


BUILT_IN = _import_modules()


def create_backend(target: Target, stats: ApiStats) -> Backend:
    """The backend client for ``target``, its requests counted in ``stats``.

    Whatever stops a client from being built (a file, a certificate, a value the HTTP client
    refuses) is a ConfigError naming the target: start exits 2 and a reload is refused."""
    client = registry.declaration(target.backend).client
    try:
        return client(target, stats)
    except Exception as err:
        why = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError([f"target {target.name}: cannot set up its client: {why}"]) from None


def check_backends(targets: Iterable[Target]) -> None:
    """Build and close every target's client, as start does; ConfigError lists what fails."""
    problems = []
    for target in targets:
        try:
            create_backend(target, ApiStats()).close()
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)


__all__ = ["BUILT_IN", "Backend", "Listing", "check_backends", "create_backend", "registry"]
