"""The process's file-descriptor limit, and the connection capacity it allows."""

from __future__ import annotations

import resource

__all__ = ["current_fd_limit", "default_max_connections", "raise_fd_limit"]

CEILING = 1 << 20
"""Soft limit asked for when the hard limit is unlimited."""


def current_fd_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` in force."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return int(soft) if soft != resource.RLIM_INFINITY else CEILING


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns the soft limit now in force.

    Every viewer costs a descriptor, and distributions start processes at a
    soft limit of 1024 however high the hard limit is.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # a container may refuse; keep what we have
            pass
    return int(soft) if soft != resource.RLIM_INFINITY else CEILING


def default_max_connections(fd_limit: int) -> int:
    """WebSocket connections to allow: the limit less a reserve for everything else.

    The reserve (a tenth of the limit, at least 64 and at most 1024 descriptors)
    keeps ``/healthz``, the publish API, log files and the listening socket
    working when every viewer slot is taken.
    """
    reserve = max(64, min(1024, fd_limit // 10))
    return max(1, fd_limit - reserve)
