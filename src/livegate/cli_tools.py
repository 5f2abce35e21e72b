"""The client-side commands: ``publish``, ``events``, ``replay``, ``watch`` and ``token``.

They talk to a running gateway: ``--url`` (``LIVEGATE_URL``, default
``http://127.0.0.1:8080``) and, for writes, ``--api-key`` (``LIVEGATE_API_KEY``).
Results go to standard output as JSON; errors go to standard error, naming
every offending field, and the command exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from livegate.api_client import ApiClient, ApiClientError
from livegate.replay import ReplayError

__all__ = ["add_tool_commands", "run_tool"]

DEFAULT_URL = "http://127.0.0.1:8080"


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("LIVEGATE_URL", DEFAULT_URL),
        help=f"the gateway's base URL (env LIVEGATE_URL; default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("LIVEGATE_API_KEY"),
        help="the API key for writes (env LIVEGATE_API_KEY)",
    )


def add_tool_commands(commands: Any) -> None:
    """Add the client-side subcommands to the ``livegate`` parser."""
    publish = commands.add_parser("publish", help="publish one update to an event")
    publish.add_argument("event", help="the event id")
    publish.add_argument(
        "--data", required=True, help="the update: a JSON object, or @FILE to read it from FILE"
    )
    publish.add_argument("--idempotency-key", help="makes a retried publish return the same seq")
    _add_connection_flags(publish)

    events = commands.add_parser("events", help="create, list, show or end events")
    actions = events.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create or update an event")
    create.add_argument("event", help="the event id")
    create.add_argument("--sport", required=True, help="cricket, chess, football, or generic")
    create.add_argument("--title", help="a title for people (default: the event id)")
    create.add_argument(
        "--private",
        action="store_true",
        help="viewers need a token that names the event (paid or private matches)",
    )
    listing = actions.add_parser("list", help="list every event")
    show = actions.add_parser("show", help="show one event with its snapshot")
    show.add_argument("event")
    end = actions.add_parser("end", help="end an event: viewers get 'ended', updates are refused")
    end.add_argument("event")
    end.add_argument("--result", help="the outcome in words, e.g. 'CSK won by 5 wickets'")
    delete = actions.add_parser("delete", help="delete an event: viewers get 'ended'")
    delete.add_argument("event")
    for sub in (create, listing, show, end, delete):
        _add_connection_flags(sub)

    replay = commands.add_parser(
        "replay", help="publish a recorded match to a running gateway, paced"
    )
    replay.add_argument("kind", choices=("cricsheet", "pgn", "timeline"), help="the file's format")
    replay.add_argument("file", type=Path, help="the match file")
    replay.add_argument("--event", required=True, help="the event id (created if needed)")
    replay.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="a multiple of real pace; 0 publishes as fast as the API acknowledges (default 1)",
    )
    _add_connection_flags(replay)

    watch = commands.add_parser(
        "watch",
        help="follow an event as a terminal scoreboard (a terminal fan)",
        description="Join an event over WebSocket and show a live scoreboard: the sport's "
        "summary, the last updates, viewers, reactions and the connection state. Ctrl-C "
        "stops. --json prints every server message as a JSON line instead.",
    )
    watch.add_argument("event", help="the event id to watch")
    watch.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="the WebSocket URL")
    watch.add_argument("--id", default="terminal-fan", help="the viewer id to join with")
    watch.add_argument("--json", action="store_true", help="print raw JSON lines")
    watch.add_argument(
        "--token",
        default=os.environ.get("LIVEGATE_TOKEN"),
        help="a viewer token (env LIVEGATE_TOKEN); the id is then the token's sub",
    )

    token = commands.add_parser(
        "token",
        help="mint a signed viewer token (for tests and small deployments)",
        description="Print a viewer token (JWT) signed with the HMAC secret "
        "(LIVEGATE_TOKEN_HMAC_SECRET or --secret-file) or a PEM private key "
        "(--private-key, RS256 or ES256 by the key's type). A deployment with a login "
        "system mints them there instead: docs/security.md.",
    )
    token.add_argument("--sub", required=True, help="the viewer id")
    token.add_argument(
        "--events",
        action="append",
        help="an event id or glob the viewer may join (repeatable; default: every public one)",
    )
    token.add_argument("--ttl", default="1h", help="lifetime: 90s, 15m, 1h, 2d (default 1h)")
    token.add_argument("--name", help="the display name shown with the viewer's comments")
    token.add_argument("--aud", help="the audience claim")
    token.add_argument("--iss", help="the issuer claim")
    token.add_argument("--kid", help="the key id header (a JWKS key's kid)")
    token.add_argument("--secret-file", help="read the HMAC secret from this file's first line")
    token.add_argument("--private-key", help="a PEM private key file (RS256 or ES256)")


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), flush=True)


def _read_data(argument: str) -> dict[str, Any]:
    text: str | bytes = argument
    if argument.startswith("@"):
        try:
            text = Path(argument[1:]).read_bytes()
        except OSError as exc:
            raise SystemExit(f"livegate: cannot read {argument[1:]}: {exc.strerror}") from None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SystemExit(f"livegate: --data is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit("livegate: --data must be a JSON object")
    return data


async def _publish(args: argparse.Namespace) -> None:
    data = _read_data(args.data)
    async with ApiClient(args.url, args.api_key) as api:
        _print_json(await api.publish(args.event, data, idempotency_key=args.idempotency_key))


async def _events(args: argparse.Namespace) -> None:
    async with ApiClient(args.url, args.api_key) as api:
        if args.action == "create":
            extra = {"private": True} if args.private else {}
            _print_json(
                await api.put_event(args.event, sport=args.sport, title=args.title, **extra)
            )
        elif args.action == "list":
            for event in await api.list_events():
                print(
                    f"{event['eventId']}\t{event['sport']}\t{event['status']}\t"
                    f"seq {event['seq']}\t{event['viewers']} watching\t{event['title']}",
                    flush=True,
                )
        elif args.action == "show":
            _print_json(await api.get_event(args.event))
        elif args.action == "end":
            _print_json(await api.end_event(args.event, args.result))
        elif args.action == "delete":
            await api.delete_event(args.event)
            _print_json({"deleted": args.event})


async def _replay(args: argparse.Namespace) -> None:
    from livegate.replay.runner import load_replay, publish_replay

    replay = load_replay(args.kind, args.file)
    total = len(replay.items)

    def progress(index: int, seq: int) -> None:
        print(f"published {index + 1}/{total} as seq {seq}", file=sys.stderr, flush=True)

    async with ApiClient(args.url, args.api_key) as api:
        count = await publish_replay(
            api, replay, args.event, speed=args.speed, on_published=progress
        )
        if replay.result is not None:  # a finished match: end its event with the outcome
            await api.end_event(args.event, replay.result)
    _print_json(
        {"event": args.event, "published": count, "sport": replay.sport, "result": replay.result}
    )


async def _watch(args: argparse.Namespace) -> None:
    from livegate.client import connect

    # With a token the server takes the id from its sub.
    user_id = None if args.token and args.id == "terminal-fan" else args.id
    async with connect(args.url, id=user_id, event_id=args.event, token=args.token) as client:
        if args.json:
            async for message in client:
                print(orjson.dumps(message).decode(), flush=True)
            return
        from rich.live import Live

        from livegate.watch_view import WatchState, render

        state = WatchState(args.event)
        # Redrawn 4 times a second, so "Reconnecting…" shows while no message comes.
        with Live(get_renderable=lambda: render(state, client.state), refresh_per_second=4):
            async for message in client:
                state.apply(message)


_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "publish": _publish,
    "events": _events,
    "replay": _replay,
    "watch": _watch,
}


_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _parse_ttl(text: str) -> float:
    """Seconds of ``90``, ``90s``, ``15m``, ``1h`` or ``2d``. Raises ValueError."""
    unit = _TTL_UNITS.get(text[-1:], 0)
    seconds = float(text[:-1] if unit else text) * (unit or 1)
    if not 0 < seconds <= 366 * 86_400:
        raise ValueError("the TTL must be more than 0 and at most a year")
    return seconds


def _token(args: argparse.Namespace) -> int:
    import time

    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from livegate.viewer_tokens import MIN_HMAC_SECRET_LEN, mint_token

    key: str | bytes
    if args.private_key:
        pem = Path(args.private_key).read_bytes()
        loaded = load_pem_private_key(pem, password=None)
        algorithm = "ES256" if isinstance(loaded, EllipticCurvePrivateKey) else "RS256"
        key = pem
    else:
        algorithm = "HS256"
        if args.secret_file:
            lines = Path(args.secret_file).read_text(encoding="utf-8").splitlines()
            key = lines[0].strip() if lines else ""
        else:
            key = os.environ.get("LIVEGATE_TOKEN_HMAC_SECRET", "")
        if len(key.encode()) < MIN_HMAC_SECRET_LEN:
            raise ValueError(
                "no HMAC secret of at least 32 bytes: set LIVEGATE_TOKEN_HMAC_SECRET (as for "
                "the server), or give --secret-file or --private-key"
            )
    print(
        mint_token(
            sub=args.sub,
            key=key,
            algorithm=algorithm,
            now=time.time(),
            ttl=_parse_ttl(args.ttl),
            events=args.events,
            name=args.name,
            audience=args.aud,
            issuer=args.iss,
            kid=args.kid,
        )
    )
    return 0


def run_tool(args: argparse.Namespace) -> int:
    """Run a client-side command; returns the exit code."""
    from livegate.client import ClientError

    if args.command == "token":
        try:
            return _token(args)
        except (ValueError, OSError, TypeError) as exc:
            print(f"livegate token: {exc}", file=sys.stderr)
            return 1

    try:
        asyncio.run(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return 130
    except ApiClientError as exc:
        print(f"livegate {args.command}: {exc.describe()}", file=sys.stderr)
        return 1
    except (ReplayError, ClientError) as exc:
        print(f"livegate {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0
