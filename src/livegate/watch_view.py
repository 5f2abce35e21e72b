"""``livegate watch``'s terminal scoreboard: what a fan needs on one screen.

:class:`WatchState` folds the server's messages (pure, no I/O); :func:`render`
draws it with ``rich``: the title, status and connection, the sport's summary
of the latest update, the last few updates, viewers and the reaction counts.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from livegate.sports import get_sport

__all__ = ["RECENT", "WatchState", "render"]

RECENT = 8
"""Updates listed under the summary."""

_CONNECTION_STYLE = {
    "connecting": ("Connecting…", "yellow"),
    "connected": ("Connected", "green"),
    "reconnecting": ("Reconnecting…", "yellow"),
    "closed": ("Disconnected", "red"),
}


def _summary(sport: str, data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    try:
        return get_sport(sport).summary(data)
    except Exception:  # a summary must never stop the scoreboard
        return ""


@dataclass
class WatchState:
    """One event as a terminal fan sees it, folded from the server's messages."""

    event_id: str
    sport: str = "generic"
    title: str = ""
    status: str = "scheduled"
    viewers: int = 0
    seq: int = 0
    summary: str = ""
    result: str = ""
    recent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=RECENT))
    reactions: Counter[str] = field(default_factory=Counter)
    comments: deque[str] = field(default_factory=lambda: deque(maxlen=3))

    def apply(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "joined":
            self.sport = str(message.get("sport") or self.sport)
            self.title = str(message.get("title") or self.event_id)
            self.status = str(message.get("status") or self.status)
            self.viewers = int(message.get("viewers") or 0)
            self.seq = int(message.get("seq") or 0)
            self.summary = _summary(self.sport, message.get("snapshot"))
            if self.summary and not any(seq == self.seq for seq, _ in self.recent):
                self.recent.append((self.seq, self.summary))
        elif kind == "score":
            self.seq = int(message.get("seq") or self.seq)
            self.summary = _summary(self.sport, message.get("data"))
            self.recent.append((self.seq, self.summary))
            if self.status == "scheduled":
                self.status = "live"
        elif kind == "viewers":
            self.viewers = int(message.get("count") or 0)
        elif kind == "reactions":
            counts = message.get("counts")
            if isinstance(counts, dict):
                self.reactions.update({str(k): int(v) for k, v in counts.items()})
            for comment in message.get("comments") or ():
                if isinstance(comment, dict):
                    self.comments.append(f"{comment.get('emoji', '')} {comment.get('comment', '')}")
        elif kind == "ended":
            self.status = "ended"
            self.result = str(message.get("result") or "")


def render(state: WatchState, connection: str) -> RenderableType:
    """The scoreboard for ``state``, with the client's ``connection`` state."""
    label, style = _CONNECTION_STYLE.get(connection, (connection, "white"))
    status = {"live": "[bold red]● LIVE[/]", "ended": "[bold]ENDED[/]"}.get(
        state.status, "[dim]SCHEDULED[/]"
    )
    head = Text.from_markup(
        f"{status}  [bold]{state.title or state.event_id}[/]  [dim]{state.sport}[/]"
    )
    head.append(f"   {state.viewers} watching   ")
    head.append(label, style=style)
    parts: list[RenderableType] = [head, Text("")]
    if state.result:
        parts.append(Text(f"Result: {state.result}", style="bold"))
    parts.append(Text(state.summary or "Waiting for the first update…", style="bold cyan"))
    if state.recent:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(justify="right", style="dim")
        table.add_column()
        for seq, line in reversed(state.recent):
            table.add_row(f"#{seq}", line)
        parts += [Text(""), table]
    if state.reactions:
        top = "  ".join(f"{emoji} {count}" for emoji, count in state.reactions.most_common(8))
        parts += [Text(""), Text(f"Reactions: {top}")]
    for comment in state.comments:
        parts.append(Text(f"  “{comment.strip()}”", style="italic"))
    return Panel(Group(*parts), title=f"livegate · {state.event_id}", border_style="blue")
