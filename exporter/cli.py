"""Command line: flags, logging, and the run modes (serve, --once, --check-config, --demo)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import resource
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from exporter import __revision__, __version__
from exporter.app import Exporter
from exporter.backends import check_backends
from exporter.config.discovery import DiscoverySource
from exporter.config.parse import Config, load_config, parse_listen_address
from exporter.config.types import AttributionSettings, ConfigError, MetricsSelection
from exporter.http.tls import TlsSettings
from exporter.logs import LEVELS, setup_logging
from exporter.polling.heap import limit_arenas
from exporter.polling.sharding import shard_from
from exporter.slo.model import Slo, duration_text
from exporter.slo.render import rules_text
from exporter.store.checks import check_state_path, real_path
from exporter.web.server import WebOptions
from exporter.web.web_config import WebSecurity

log = logging.getLogger("exporter")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobfleet-exporter",
        description="Prometheus exporter for Ray and AI jobs across compute platforms.",
    )
    parser.add_argument(
        "--config.file", dest="config_file", default="config.yaml", help="YAML configuration file"
    )
    _web_flags(parser)
    _metric_flags(parser)
    _run_flags(parser)
    return parser


def _web_flags(parser: argparse.ArgumentParser) -> None:
    """How the exporter is served."""
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=None,
        help="address to serve on (default: web.listen_address of the config, else :9760)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="TLS and basic auth, exporter-toolkit format (default: web.config_file)",
    )
    parser.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="accept POST /-/reload (SIGHUP always reloads)",
    )
    parser.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=_positive,
        default=512,
        help="concurrent HTTP connections; more wait until one closes (default 512)",
    )


def _metric_flags(parser: argparse.ArgumentParser) -> None:
    """Which families a scrape shows; over the configuration's ``metrics`` section."""
    for which in ("allowlist", "denylist"):
        parser.add_argument(
            f"--metric-{which}",
            dest=f"metric_{which}",
            default=None,
            metavar="PATTERNS",
            help=f"comma-separated regular expressions of family names to "
            f"{'show only' if which == 'allowlist' else 'leave out'} (health families stay)",
        )


def _with_metric_flags(config: Config, args: argparse.Namespace) -> Config:
    """``config`` with the families the flags select, when either is given."""
    if args.metric_allowlist is None and args.metric_denylist is None:
        return config
    patterns = {
        which: [p for p in (getattr(args, f"metric_{which}") or "").split(",") if p]
        for which in ("allowlist", "denylist")
    }
    try:
        selection = MetricsSelection(**patterns)
    except ValidationError as err:
        flags = "--metric-allowlist/--metric-denylist"
        raise ConfigError(
            [f"{flags}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()]
        ) from None
    return config.model_copy(update={"metrics": selection})


def _run_flags(parser: argparse.ArgumentParser) -> None:
    """Sharding, logging and the run modes."""
    parser.add_argument(
        "--shard",
        type=int,
        default=None,
        help="this replica's shard, 0..M-1 (default: the ordinal ending the host name, when M > 1)",
    )
    parser.add_argument(
        "--total-shards",
        dest="total_shards",
        type=int,
        default=1,
        help="replicas sharing the targets; each polls the targets it owns (default 1)",
    )
    parser.add_argument("--log.level", dest="log_level", choices=LEVELS, default="info")
    parser.add_argument("--log.format", dest="log_format", choices=("text", "json"), default="text")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration, print what would be polled, and exit",
    )
    mode.add_argument(
        "--once",
        action="store_true",
        help="poll every target once, print the exposition to stdout, and exit",
    )
    mode.add_argument(
        "--slo.print-rules",
        dest="slo_print_rules",
        action="store_true",
        help="print the Prometheus rules of the configuration's slos (docs/slo.md), and exit",
    )
    parser.add_argument(
        "--demo", action="store_true", help="run against the built-in simulators on loopback"
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"jobfleet-exporter {__version__} (revision {__revision__})",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _raise_open_files_limit() -> None:
    """Each connection is a file descriptor: allow as many as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _seconds(value: float) -> str:
    return f"{value:g}s"


def describe(config: Config) -> str:
    """What --check-config prints: every target and how it is polled, no secret values."""
    lines = [f"configuration OK: {len(config.targets)} target(s)"]
    for target in config.targets:
        lines.append(
            f"target {target.name}: backend={target.backend} endpoint={target.endpoint_text()} "
            f"resources={','.join(target.resources)} "
            f"poll_interval={_seconds(target.poll_interval)} "
            f"timeout={_seconds(target.timeout)} per_job_series={target.per_job_series} "
            f"retention={_seconds(target.retention)} auth={target.auth_text()}"
            + _tls_text(target.tls_settings())
            + _attribution_text(target.attribution)
        )
    lines += [_source_line(source) for source in config.discovery]
    lines += [_slo_line(slo) for slo in config.slos]
    shown = config.metrics.shown()
    if shown is not None:
        chosen = "allowlist" if config.metrics.allowlist else "denylist"
        patterns = ",".join(getattr(config.metrics, chosen))
        lines.append(f"metrics: {chosen}={patterns} ({len(shown)} families shown)")
    return "\n".join(lines)


def _source_line(source: DiscoverySource) -> str:
    """A discovery source: where it reads, how often, what it makes; the URL redacted."""
    if source.http is not None:
        http = source.http
        where = (
            f"http url={http.url_text()} timeout={_seconds(http.timeout)} "
            f"max_response_bytes={http.max_response_bytes} auth={http.auth_text()}"
            + _tls_text(http.tls.settings() if http.tls else TlsSettings())
        )
    elif source.kuberay is not None:
        kuberay = source.kuberay
        where = (
            f"kuberay url={kuberay.endpoint_text()} "
            f"namespaces={','.join(kuberay.namespaces) or '(all)'} "
            f"label_selector={kuberay.label_selector or '(none)'} address={kuberay.address} "
            f"timeout={_seconds(kuberay.timeout)} max_response_bytes={kuberay.max_response_bytes} "
            f"auth={kuberay.auth_text()}" + _tls_text(kuberay.tls_settings())
        )
    else:
        where = f"file paths={','.join(source.file.paths) if source.file else ''}"
    host = "<service>.<namespace>.svc" if source.kuberay is not None else "<host>"
    return (
        f"discovery {source.name}: {where} "
        f"refresh_interval={_seconds(source.refresh_interval)} scheme={source.scheme} "
        f"max_targets={source.max_targets} backend={source.template['backend']} "
        f"(targets named {source.name}:{host}:<port>, read at start)"
    )


def _slo_line(slo: Slo) -> str:
    """An objective: what counts as good, the objective, its window and grouping."""
    kind = (
        f"queue_wait under={duration_text(slo.queue_wait.under)}"
        if slo.queue_wait is not None
        else "success_ratio"
    )
    selector = f" selector={slo.selector}" if slo.selector else ""
    return (
        f"slo {slo.name}: {kind} objective={slo.objective:g}% "
        f"window={duration_text(slo.window)} by={slo.by}{selector} "
        "(rules: --slo.print-rules)"
    )


def _attribution_text(attribution: AttributionSettings) -> str:
    """The attribution labels and the fields they read (names of fields, never values)."""
    if not attribution.labels:
        return ""
    labels = ",".join(f"{name}={_source_text(given)}" for name, given in attribution.labels.items())
    text = f" attribution={labels} max_values={attribution.max_values}"
    if attribution.histograms:
        text += f" histograms={','.join(attribution.histograms)}"
    return text


def _source_text(given: str | dict[str, str]) -> str:
    """A label's source field, or its field on each list (``jobs:name|spark_runs:creator``)."""
    if isinstance(given, str):
        return given
    return "|".join(f"{resource}:{source}" for resource, source in given.items())


def _tls_text(tls: TlsSettings) -> str:
    """The backend TLS settings that differ from the default: file paths, never contents
    (PEM given inline shows as ``inline``)."""
    shown = [
        f"{key}={'inline' if key.endswith('_data') else value}"
        for key, value in vars(tls).items()
        if value not in (None, False)
    ]
    return f" tls={','.join(shown)}" if shown else ""


@contextlib.contextmanager
def _config(args: argparse.Namespace) -> Iterator[Config]:
    if args.demo:
        from exporter.demo import demo_environment

        with demo_environment() as config:
            yield config
    else:
        yield _with_metric_flags(load_config(args.config_file), args)


def _install_signal_handlers(stop: threading.Event, reload: threading.Event) -> None:
    """The handlers only set an event, and the loop that waits on it logs: a handler runs
    between two bytecodes of the main thread, even inside a write to stderr, where a log line
    raises "reentrant call" and the signal would be lost."""

    def handle(signum: int, _frame: object) -> None:
        (reload if signum == signal.SIGHUP else stop).set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, handle)


def check(config: Config, web_config: str | Path | None) -> None:
    """What start builds from the configuration, built once and dropped: every target's
    client, the web config and the state file. ConfigError lists what would stop the
    exporter."""
    problems = []
    try:
        check_backends(config.targets)
    except ConfigError as err:
        problems.extend(err.problems)
    if config.state_file:
        try:  # read-only: an exporter running on the file keeps it
            check_state_path(real_path(Path(config.state_file)))
        except ConfigError as err:
            problems.extend(err.problems)
    if web_config:
        try:
            WebSecurity(web_config)  # reads the web config and its certificates, as start does
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    limit_arenas()  # before any thread: see polling/heap.py
    try:
        with _config(args) as config:
            web_config = args.web_config_file or config.web.config_file
            if args.check_config:
                check(config, web_config)
                print(describe(config))
                return 0
            if args.slo_print_rules:
                if not config.slos:
                    print(f"{args.config_file}: slos: none configured", file=sys.stderr)
                    return 2
                print(rules_text(config.slos, args.config_file), end="")
                return 0
            try:
                shard = shard_from(args.shard, args.total_shards, socket.gethostname())
            except ValueError as err:
                print(f"sharding: {err}", file=sys.stderr)
                return 2
            reloader = (
                None
                if args.demo
                else lambda: _with_metric_flags(load_config(args.config_file), args)
            )
            if args.once:
                exporter = Exporter(config, reloader, shard)
                ok = exporter.poll_all_once()
                sys.stdout.buffer.write(exporter.exposition.body())
                sys.stdout.flush()
                exporter.close()
                return 0 if ok else 1
            address = args.listen_address or config.web.listen_address
            try:
                host, port = parse_listen_address(address)
            except ValueError as err:
                print(f"--web.listen-address: {err}", file=sys.stderr)
                return 2
            web = WebOptions(
                security=WebSecurity(web_config) if web_config else None,
                enable_lifecycle=args.enable_lifecycle,
                max_connections=args.max_connections,
            )
            # The port opens before the pollers are built: /healthz answers at once.
            exporter = Exporter(config, reloader, shard, defer_pollers=True)
            stop, reload = threading.Event(), threading.Event()
            _install_signal_handlers(stop, reload)
            _raise_open_files_limit()
            try:
                exporter.serve(host, port, stop, reload_requested=reload, web=web)
            except OSError as err:
                print(f"cannot listen on {address}: {err.strerror or err}", file=sys.stderr)
                return 1
            return 0
    except ConfigError as err:
        for problem in err.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 2
