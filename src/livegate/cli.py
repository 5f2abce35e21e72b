"""The ``livegate`` command line.

Every flag of ``livegate serve`` can also come from the environment as
``LIVEGATE_`` plus the flag's name in capitals with dashes as underscores
(``--api-key`` is ``LIVEGATE_API_KEY``). A flag given on the command line wins.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import secrets
import shutil
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from livegate import __version__
from livegate.cli_tools import add_tool_commands, run_tool
from livegate.config import MIN_API_KEY_LEN, Settings
from livegate.engines import EngineUnavailable

__all__ = ["main"]

ENV_PREFIX = "LIVEGATE_"


@dataclass(frozen=True)
class _Flag:
    name: str
    kind: Callable[[str], Any]
    help: str


_SERVE_FLAGS = (
    _Flag("host", str, "address to listen on (default 0.0.0.0)"),
    _Flag("port", int, "port for HTTP and WebSocket (default 8080)"),
    _Flag(
        "api-key",
        str,
        f"API key for writes, at least {MIN_API_KEY_LEN} characters; generated and printed "
        "if not set (prefer the environment or --api-key-file: arguments show in ps)",
    ),
    _Flag("api-key-file", str, "read the API key from this file (its first line)"),
    _Flag(
        "api-keys-file",
        str,
        "named API keys with scopes, one 'name scopes key' per line (admin, "
        "publish:<event glob>, read); reloaded on SIGHUP",
    ),
    _Flag("heartbeat-interval", float, "seconds between client pings the server asks for (15)"),
    _Flag("heartbeat-timeout", float, "seconds of silence before a connection is closed (45)"),
    _Flag("history-size", int, "score messages kept per event for resume (1000)"),
    _Flag("reaction-window", float, "seconds per reaction aggregate (0.5)"),
    _Flag("reaction-rate", float, "reactions per second per connection (5)"),
    _Flag("reaction-burst", int, "reaction burst per connection (10)"),
    _Flag("viewers-budget", int, "viewer count messages per second per event, at most (1000)"),
    _Flag("max-buffer", int, "bytes a viewer's send buffer may hold before 4009 (1048576)"),
    _Flag("drain-window", float, "seconds over which shutdown spreads the 1012 closes (2)"),
    _Flag("resume-max-messages", int, "most score messages a resume replays (100)"),
    _Flag("resume-max-bytes", int, "most bytes of score messages a resume replays (65536)"),
    _Flag("idempotency-ttl", float, "seconds an Idempotency-Key is remembered (300)"),
    _Flag(
        "max-connections",
        int,
        "WebSocket connections to accept; 0 is the fd limit less a reserve (0); "
        "more are refused with 503",
    ),
    _Flag("max-connections-per-ip", int, "WebSocket connections per client address (0: off)"),
    _Flag(
        "connection-rate-per-ip", float, "new WebSocket connections/s per client address (0: off)"
    ),
    _Flag("connection-burst-per-ip", int, "burst of new connections per client address (20)"),
    _Flag(
        "trusted-proxies",
        str,
        "comma-separated proxy addresses/CIDRs whose X-Forwarded-For names the client (none)",
    ),
    _Flag("header-timeout", float, "seconds a connection has to send its request headers (10)"),
    _Flag("keepalive-timeout", float, "seconds an idle keep-alive HTTP connection is kept (75)"),
    _Flag("join-timeout", float, "seconds a WebSocket may stay without a joined event (10)"),
    _Flag("read-rate", float, "public API reads per second per client address (20)"),
    _Flag("read-burst", int, "burst of public API reads per client address (40)"),
    _Flag("ended-retention", float, "seconds an ended event is kept before it is deleted (86400)"),
    _Flag(
        "blocked-words",
        str,
        "a file of words and phrases refused in comments, one per line (links are always "
        "refused); reloaded on SIGHUP",
    ),
    _Flag(
        "allowed-origins",
        str,
        "web origins whose pages may open a WebSocket besides the server's own: "
        "https://app.example.com, https://*.example.com or * (none; demo: also localhost)",
    ),
    _Flag(
        "viewer-auth",
        str,
        "off (tokens not read), optional (anonymous viewers watch and react; a token given "
        "must be valid) or required (every join needs a token) (optional)",
    ),
    _Flag(
        "token-hmac-secret",
        str,
        "HS256 secret of viewer tokens, at least 32 bytes (prefer the environment)",
    ),
    _Flag("token-public-key", str, "PEM file of the RS256/ES256 key of viewer tokens"),
    _Flag(
        "token-jwks-file",
        str,
        "JWKS file of viewer token keys by kid, for rotation; reloaded on SIGHUP",
    ),
    _Flag("token-audience", str, "a viewer token's aud must include this (not checked)"),
    _Flag("token-issuer", str, "a viewer token's iss must equal this (not checked)"),
    _Flag(
        "web-token-url",
        str,
        'a path on this site where the web app gets a viewer token as {"token": ...} '
        "(your login backend, behind the same host)",
    ),
    _Flag(
        "flush-delay",
        float,
        "seconds broadcast messages wait to share one write per viewer (0: the rest of the "
        "loop iteration; negative: each written at once) (0.005)",
    ),
    _Flag(
        "workers",
        int,
        "worker processes on the one port (SO_REUSEPORT), e.g. one per core; more than 1 "
        "needs the Redis engine (1)",
    ),
    _Flag("node-id", str, "names this node in /healthz, logs and viewer counts (hostname-pid)"),
    _Flag(
        "engine",
        str,
        "where events live: sqlite://PATH (one durable node), redis://HOST:PORT/DB "
        "(many nodes) or memory:// (nothing kept) (serve: sqlite://livegate.db; demo: memory://)",
    ),
    _Flag("engine-prefix", str, "prefix of every key written to a shared engine (livegate)"),
    _Flag("log-level", str, "logging level (info)"),
)

_SETTING_NAMES = {"engine": "engine_url", "blocked_words": "blocked_words_file"}
_DEFAULT_ENGINES = {"serve": "sqlite://livegate.db", "demo": "memory://"}


def _env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livegate", description="A real-time gateway for live sports events."
    )
    parser.add_argument("--version", action="version", version=f"livegate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway. " + _plain(__doc__.split("\n\n")[1]),
    )
    demo = commands.add_parser(
        "demo",
        help="run the gateway with simulated live matches (cricket, chess, football)",
        description="Run the gateway and publish simulated live matches to it through its "
        "own HTTP API, looping forever. Takes every flag of 'serve'.",
    )
    demo.add_argument("--seed", type=int, default=2024, help="seed of the simulations (2024)")
    for command in (serve, demo):
        for flag in _SERVE_FLAGS:
            command.add_argument(
                f"--{flag.name}",
                type=flag.kind,
                default=None,
                help=f"{flag.help}; env {_env_name(flag.name)}",
            )
    cluster = commands.add_parser(
        "cluster",
        help="run a local cluster: redis-server, N nodes and nginx on one port",
        description="Start a redis-server (AOF on), N 'livegate serve' nodes on the Redis "
        "engine and nginx in front of them, print where each is, and stop them all on "
        "Ctrl-C. Needs redis-server and nginx (Debian packages of those names). The API "
        f"key comes from {ENV_PREFIX}API_KEY, else one is generated and printed.",
    )
    cluster.add_argument("--nodes", type=int, default=3, help="livegate nodes (3)")
    cluster.add_argument(
        "--port", type=int, default=8080, help="nginx's port; node i gets port+i (8080)"
    )
    cluster.add_argument(
        "--data-dir",
        default="livegate-cluster",
        help="Redis AOF, nginx config (./livegate-cluster)",
    )
    cluster.add_argument("--redis", default="", help="use this Redis instead of starting one")
    cluster.add_argument("--demo", action="store_true", help="publish simulated matches")
    add_tool_commands(commands)
    return parser


def _plain(text: str) -> str:
    """A docstring's text for a terminal: no reStructuredText literal markup."""
    return text.replace("``", "")


def _usage_error(message: str) -> NoReturn:
    """A setting is wrong: one line and exit 2 (as argparse does), before anything starts."""
    print(f"livegate: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _read_key_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.readline().strip()
    except OSError as exc:
        _usage_error(f"cannot read the API key file {path!r}: {exc.strerror}")


def _resolve(args: argparse.Namespace) -> tuple[Settings, bool, str]:
    """Settings from flags, then the environment, then the defaults."""
    if args.api_key is not None:
        print(
            "livegate: warning: --api-key on the command line is visible to every user "
            "in ps; prefer LIVEGATE_API_KEY or --api-key-file",
            file=sys.stderr,
            flush=True,
        )
    values: dict[str, Any] = {}
    for flag in _SERVE_FLAGS:
        attr = flag.name.replace("-", "_")
        value = getattr(args, attr)
        if value is None and (raw := os.environ.get(_env_name(flag.name))) is not None:
            try:
                value = flag.kind(raw)
            except ValueError:
                _usage_error(f"{_env_name(flag.name)}={raw!r} is not a valid {flag.kind.__name__}")
        if value is not None:
            values[_SETTING_NAMES.get(attr, attr)] = value
    values.setdefault("engine_url", _DEFAULT_ENGINES[args.command])
    if args.command == "demo":
        values["allow_local_origins"] = True
    log_level = str(values.pop("log_level", "info"))
    key_file = values.pop("api_key_file", None)
    if not values.get("api_key") and key_file is not None:
        values["api_key"] = _read_key_file(key_file)
    generated = not values.get("api_key") and key_file is None and "api_keys_file" not in values
    if generated:
        values["api_key"] = secrets.token_urlsafe(24)
    settings = Settings(**values)
    try:
        settings.validate()
    except ValueError as exc:
        _usage_error(str(exc))
    return settings, generated, log_level


def _check_port(host: str, port: int) -> None:
    """Exit 2 with one line if ``host:port`` cannot be listened on (before any banner)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        _usage_error(f"cannot listen on {host!r}: {exc.strerror}")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _usage_error(f"port {port} is in use; try --port")
            _usage_error(f"cannot listen on {host}:{port}: {exc.strerror}")


def _own_command() -> str:
    """How to run ``livegate`` again from another terminal: a full path unless it is on PATH."""
    beside = Path(sys.executable).parent / "livegate"
    if beside.exists() and shutil.which("livegate") != str(beside):
        return str(beside)
    return "livegate"


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _without_workers(argv: Sequence[str] | None) -> list[str]:
    """The ``serve`` flags as given, less ``--workers`` (a worker runs one process)."""
    given = list(sys.argv[1:] if argv is None else argv)
    given = given[given.index("serve") + 1 :]
    kept: list[str] = []
    skip = False
    for arg in given:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return kept


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command in ("serve", "demo"):
        settings, generated, log_level = _resolve(args)
        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        from livegate.workers import worker_info

        if worker_info() is None:
            _check_port(settings.host, settings.port)
        if args.command == "demo" and settings.workers > 1:
            _usage_error("the demo runs one worker; use 'serve --workers N' with Redis")
        if generated:
            print(
                "livegate: no API key configured; generated one for this run. To publish "
                "from another terminal, paste:\n\n"
                f"    export {ENV_PREFIX}API_KEY={settings.api_key}\n",
                flush=True,
            )
        if settings.workers > 1:
            from livegate.workers import run_supervisor

            if generated:  # every worker must take the same key
                os.environ[_env_name("api-key")] = settings.api_key
            sys.exit(
                run_supervisor(_without_workers(argv), settings.workers, settings.drain_window)
            )
        from livegate.server import run

        while_serving = None
        if args.command == "demo":
            from livegate.demo import run_matches

            host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
            base = f"http://{host}:{settings.port}"
            print(
                f"livegate demo: live matches at {base}/ (open it in a browser)\n"
                f"  the API:    {base}/api/events\n"
                f"  watch one:  {_own_command()} watch demo-cricket "
                f"--url ws://{host}:{settings.port}/ws\n"
                f"  API key:    {settings.api_key}",
                flush=True,
            )
            seed = args.seed

            def while_serving(url: str) -> Coroutine[Any, Any, None]:
                return run_matches(url, settings.api_key, seed=seed)

        _install_uvloop()
        try:
            asyncio.run(
                run(
                    settings,
                    announce=lambda line: print(line, flush=True),
                    while_serving=while_serving,
                )
            )
        except EngineUnavailable as exc:
            _usage_error(str(exc))
        except OSError as exc:  # the port was taken between the check and the bind
            _usage_error(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}")
        sys.exit(0)
    if args.command == "cluster":
        sys.exit(_cluster(args))
    sys.exit(run_tool(args))


def _cluster(args: argparse.Namespace) -> int:
    from livegate.cluster import ClusterSpec, MissingProgram, run_cluster

    if not 1 <= args.nodes <= 64 or not 0 < args.port < 65536 - args.nodes:
        _usage_error("--nodes must be 1 to 64 and --port leave room for the nodes' ports")
    key = os.environ.get(_env_name("api-key"), "")
    if key and len(key) < MIN_API_KEY_LEN:
        _usage_error(f"the API key must be at least {MIN_API_KEY_LEN} characters")
    spec = ClusterSpec(
        nodes=args.nodes,
        port=args.port,
        data_dir=Path(args.data_dir),
        redis_url=args.redis,
        api_key=key,
        demo=args.demo,
    )
    _install_uvloop()
    try:
        return asyncio.run(run_cluster(spec, announce=lambda line: print(line, flush=True)))
    except MissingProgram as exc:
        _usage_error(str(exc))
