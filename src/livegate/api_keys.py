"""Named API keys with scopes (pure, no I/O but reading the key file).

A key file has one key per line, ``#`` starting a comment::

    # name      scopes                        key
    ops         admin                         3f9a...  (at least 16 characters)
    ipl-feed    publish:ipl-*                 8c1e...
    stats       read                          b77d...

Scopes: ``admin`` (every write: create, update, end, delete, publish anywhere),
``publish:<glob>`` (updates to events whose id matches the glob, e.g. ``ipl-*``;
several may be given, comma-separated), ``read`` (no writes). Keys are kept as
SHA-256 digests and compared in constant time; a key is never logged, its name is.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ApiKey", "KeyRing", "load_key_file"]

MIN_KEY_LEN = 16


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    scopes: tuple[str, ...]
    digest: bytes

    def allows(self, action: str, event_id: str) -> bool:
        """Whether this key may do ``action`` (``admin``, ``publish`` or ``read``: any key
        reads) on ``event_id``."""
        if "admin" in self.scopes or action == "read":
            return True
        if action != "publish":
            return False
        return any(
            scope.startswith("publish:") and fnmatch.fnmatchcase(event_id, scope[8:])
            for scope in self.scopes
        )


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    """The keys a node accepts; ``find`` compares against every one in constant time."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self.keys = tuple(keys)

    @classmethod
    def single(cls, key: str, name: str = "default") -> KeyRing:
        """One admin key (``--api-key``)."""
        return cls([ApiKey(name, ("admin",), _digest(key))] if key else [])

    def find(self, presented: str) -> ApiKey | None:
        digest = _digest(presented)
        found = None
        for key in self.keys:  # no early exit: the time does not tell which key matched
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    def __add__(self, other: KeyRing) -> KeyRing:
        return KeyRing([*self.keys, *other.keys])


def load_key_file(path: str | Path) -> KeyRing:
    """Read a key file. Raises ValueError naming the line for anything wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the API keys file {str(path)!r}: {exc.strerror}") from None
    keys: list[ApiKey] = []
    names: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{path}, line {number}"
        if len(parts) != 3:
            raise ValueError(f"{where}: expected 'name scopes key'")
        name, scopes_text, key = parts
        scopes = tuple(s for s in scopes_text.split(",") if s)
        for scope in scopes:
            if scope not in ("admin", "read") and not (
                scope.startswith("publish:") and len(scope) > 8
            ):
                raise ValueError(f"{where}: unknown scope {scope!r} (admin, publish:<glob>, read)")
        if len(key) < MIN_KEY_LEN:
            raise ValueError(f"{where}: the key of {name!r} is shorter than {MIN_KEY_LEN}")
        if name in names:
            raise ValueError(f"{where}: the name {name!r} is used twice")
        names.add(name)
        keys.append(ApiKey(name, scopes, _digest(key)))
    return KeyRing(keys)
