"""Configuration: YAML file -> env expansion -> validated pydantic models.

Every problem becomes one line naming the field path (``targets[1].url: ...``); a value is never
echoed back where it could be a secret.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import AfterValidator, Field, ValidationError, create_model, model_validator

from exporter.backends import registry
from exporter.config.discovery import (
    CONFIG_DIR,
    PROBE_URL,
    DiscoverySource,
    check_sources,
    template_target,
)
from exporter.config.files import CONFIG_FILE_LIMIT, FileProblem, read_text_file
from exporter.config.resolve import resolve_target
from exporter.config.types import (
    HOST_NAME,
    ConfigError,
    Defaults,
    EmptyIfNone,
    MetricsSelection,
    Strict,
    Target,
)
from exporter.config.yaml_loader import YamlProblem, load_yaml
from exporter.slo.checks import check_slos
from exporter.slo.model import Slo

DEFAULT_LISTEN_ADDRESS = ":9760"


def parse_listen_address(address: str) -> tuple[str, int]:
    """``:9760``, ``127.0.0.1:9760`` or ``[::1]:9760`` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError("must be host:port or :port, with a port from 1 to 65535")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host and not HOST_NAME.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError("must be host:port with an IP address or host name") from None
    return host, int(port)


def _check_listen_address(address: str) -> str:
    parse_listen_address(address)
    return address


ListenAddress = Annotated[str, AfterValidator(_check_listen_address)]


class Web(Strict):
    listen_address: ListenAddress = DEFAULT_LISTEN_ADDRESS
    config_file: Path | None = None  # TLS and basic auth, exporter-toolkit format


def _check_state_path(path: Path) -> Path:
    """An existing state file must be a regular file: it is read whole and replaced by rename."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    except OSError as err:
        raise ValueError(f"cannot use {path}: {err.strerror or type(err).__name__}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file")
    return path


class Config(Strict):
    """The whole configuration. Its targets are of the declared backends' target models: a
    configuration is validated by ``config_model()``, which knows them."""

    web: Annotated[Web, EmptyIfNone] = Web()
    defaults: Annotated[Defaults, EmptyIfNone] = Defaults()
    metrics: Annotated[MetricsSelection, EmptyIfNone] = MetricsSelection()
    state_file: Annotated[Path, AfterValidator(_check_state_path)] | None = None
    targets: list[Target] = Field(default_factory=list)
    discovery: list[DiscoverySource] = Field(default_factory=list)
    slos: list[Slo] = Field(default_factory=list)  # for rules only (docs/slo.md)

    @model_validator(mode="after")
    def _resolve_targets(self) -> Config:
        if not self.targets and not self.discovery:
            raise ValueError("targets: required: at least one target, or a discovery source")
        seen: set[str] = set()
        for index, target in enumerate(self.targets):
            if target.name in seen:
                raise ValueError(f"targets[{index}].name: duplicate target name {target.name!r}")
            seen.add(target.name)
        resolved = [
            resolve_target(target, self.defaults, f"targets[{index}]")
            for index, target in enumerate(self.targets)
        ]
        object.__setattr__(self, "targets", resolved)
        check_sources(self.discovery, self.defaults)
        templates = (template_target(s, self.defaults, PROBE_URL) for s in self.discovery)
        check_slos(
            self.slos,
            [self.defaults.attribution, *(t.attribution for t in (*resolved, *templates))],
        )
        return self


def config_model() -> type[Config]:
    """``Config`` whose targets are chosen by their ``backend`` key among the backends
    declared now (a backend registered at run time included)."""
    return _config_model(tuple(d.target for d in registry.declarations()))


@functools.lru_cache(maxsize=8)
def _config_model(models: tuple[type[Target], ...]) -> type[Config]:
    choice = Annotated[Union[models], Field(discriminator="backend")]  # noqa: UP007 - a tuple
    return create_model(
        "Config",
        __base__=Config,
        targets=(list[choice], Field(default_factory=list)),  # type: ignore[valid-type]
    )


# --- loading ---------------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


MAX_KEY_LENGTH = 64


def _path_text(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        part = str(part)
        if len(part) > MAX_KEY_LENGTH:
            part = part[: MAX_KEY_LENGTH - 1] + "…"
        text += f".{part}" if text else part
    return text or "(top level)"


def expand_env(node: Any, environ: dict[str, str], problems: list[str], path=()) -> Any:
    """Expand ``${NAME}`` and ``${NAME:-default}`` in every string; ``$$`` is a literal ``$``."""
    if isinstance(node, dict):
        return {
            key: expand_env(value, environ, problems, (*path, key)) for key, value in node.items()
        }
    if isinstance(node, list):
        return [expand_env(value, environ, problems, (*path, i)) for i, value in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                problems.append(f"{_path_text(path)}: environment variable {name} is not set")
                return ""
            return default
        return value

    return _ENV_REF.sub(substitute, node)


def _error_loc(loc: tuple[Any, ...], names: tuple[str, ...]) -> tuple[Any, ...]:
    """Pydantic's location without its own markers: the backend tag after a target index
    (``targets.0.ray.url``) and ``[key]`` after a mapping key."""
    return tuple(
        part
        for i, part in enumerate(loc)
        if part != "[key]" and not (i >= 2 and loc[i - 2] == "targets" and part in names)
    )


# pydantic's wording where it names Python types
_MESSAGES = {
    "extra_forbidden": "unknown key",
    "path_type": "must be a file path",
    "model_type": "must be a mapping of settings",
    "model_attributes_type": "must be a mapping of settings",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "string_type": "must be a string",
}


def _error_line(error: dict[str, Any], names: tuple[str, ...]) -> str:
    loc = list(_error_loc(tuple(error["loc"]), names))
    kind, message = error["type"], error["msg"]
    if kind in _MESSAGES:
        message = _MESSAGES[kind]
    elif kind in ("missing", "union_tag_not_found"):
        message = "required"
    elif kind == "union_tag_invalid":
        message = f"must be one of: {', '.join(names)}"
    if kind.startswith("union_tag"):
        loc.append("backend")
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if message.startswith(("targets", "discovery[", "slos[")) and ": " in message:
        return message
    return f"{_path_text(tuple(loc))}: {message}"


def parse_config(
    data: Any, environ: dict[str, str] | None = None, config_dir: str | None = None
) -> Config:
    """Validate an already-parsed YAML document; raise ConfigError listing every problem.
    ``config_dir``: the directory of the file it came from, which relative discovery paths
    are read from."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["(top level): must be a mapping of settings"])
    problems: list[str] = []
    data = expand_env(data, dict(os.environ if environ is None else environ), problems)
    if problems:
        raise ConfigError(problems)
    try:
        return config_model().model_validate(data, context={CONFIG_DIR: config_dir})
    except ValidationError as err:
        names = registry.names()
        errors = err.errors(include_input=False)
        raise ConfigError([_error_line(error, names) for error in errors]) from None


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    """Read and validate the YAML config file at ``path``: the one path taken by
    ``--check-config``, start and reload. Every problem is a ConfigError, never a traceback."""
    try:
        text = read_text_file(path, CONFIG_FILE_LIMIT)
        return parse_config(load_yaml(text), environ, os.path.dirname(os.path.abspath(path)))
    except ConfigError:
        raise
    except FileProblem as err:
        raise ConfigError([f"config file: {err}"]) from None
    except YamlProblem as err:
        raise ConfigError([f"{path}: {err}"]) from None
    except Exception as err:  # a last resort: whatever it is, a line naming its kind, no value
        raise ConfigError(
            [f"{path}: cannot load the configuration ({type(err).__name__})"]
        ) from None
