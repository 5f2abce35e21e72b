"""The client-side commands: ``publish``, ``events``, ``replay`` and ``watch``.

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
            _print_json(await api.put_event(args.event, sport=args.sport, title=args.title))
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

    async with connect(args.url, id=args.id, event_id=args.event) as client:
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


def run_tool(args: argparse.Namespace) -> int:
    """Run a client-side command; returns the exit code."""
    from livegate.client import ClientError

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
