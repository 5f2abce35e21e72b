"""Settings of one livegate node, as a small immutable value object."""

from __future__ import annotations

from dataclasses import dataclass

from livegate.api_keys import load_key_file
from livegate.clientaddr import parse_networks
from livegate.engines import check_engine_url
from livegate.moderation import CommentFilter
from livegate.origins import OriginPolicy
from livegate.protocol import valid_event_id
from livegate.viewer_tokens import TokenVerifier

__all__ = ["MIN_API_KEY_LEN", "VIEWER_AUTH_MODES", "Settings"]

MIN_API_KEY_LEN = 16
"""Shortest API key accepted: a 3-character key falls to brute force in seconds."""


VIEWER_AUTH_MODES = ("off", "optional", "required")
"""``off``: tokens are not read; ``optional``: anonymous viewers watch and react, a token
given must be valid; ``required``: every join needs a valid token."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node is configured with. Times are in seconds, sizes in bytes.

    ``validate()`` raises ``ValueError`` naming the first bad setting; the CLI
    calls it so a typo fails at start rather than at the first viewer.
    """

    host: str = "0.0.0.0"
    port: int = 8080
    api_key: str = ""
    heartbeat_interval: float = 15.0
    heartbeat_timeout: float = 45.0
    history_size: int = 1000
    reaction_window: float = 0.5
    reaction_rate: float = 5.0
    reaction_burst: int = 10
    max_buffer: int = 1024 * 1024
    drain_window: float = 2.0
    engine_url: str = "memory://"
    """Where events live (``memory://``, ``sqlite://PATH``, ``redis://HOST:PORT/DB``);
    ``livegate serve`` defaults to ``sqlite://livegate.db``."""
    engine_prefix: str = "livegate"
    """Prefix of every key the node writes in a shared engine (Redis)."""
    node_id: str = ""
    """Names this node in ``/healthz``, logs and viewer counts; empty: hostname-pid."""
    viewers_interval: float = 1.0
    viewers_budget: int = 1000
    """``viewers`` messages a node sends per second per event, at most: an event with L
    local viewers gets its count every ``viewers_interval * max(1, L / viewers_budget)``
    seconds (when it changed), so a crowd of 100,000 does not spend the node's sends on
    a number that moves by a fraction of a percent."""
    max_update_size: int = 64 * 1024
    max_comment_samples: int = 10
    message_rate: float = 20.0
    """Inbound messages per second per connection (all types), the general flood guard."""
    message_burst: int = 40
    frame_rate: float = 200.0
    """WebSocket frames per second per connection (text, fragments, ping, pong...), counted
    before they are parsed; past ``frame_burst`` the connection is closed with 4008. Ten
    times the message limits: a backstop for floods of tiny frames, which the message
    limits (with their ``rate_limited`` errors) would meet only after parsing them."""
    frame_burst: int = 400
    abuse_limit: int = 30
    """Refused messages a connection may collect (net of ``abuse_rate``) before 4008."""
    abuse_rate: float = 1.0
    """Refused messages per second forgiven: a client just over a limit is not closed."""
    bad_input_limit: int = 10
    """Bad frames in a row before a connection is closed with 1008."""
    idempotency_keys: int = 10_000
    """Idempotency keys remembered per event (oldest forgotten first)."""
    idempotency_ttl: float = 300.0
    """Seconds an idempotency key is remembered (as Centrifugo's default)."""
    resume_max_messages: int = 100
    """Most ``score`` messages a resume replays; more missed is a non-recovered join."""
    resume_max_bytes: int = 64 * 1024
    """Most bytes of ``score`` messages a resume replays (with the same fallback)."""
    max_connections: int = 0
    """WebSocket connections this node accepts; 0: the fd limit less a reserve."""
    max_connections_per_ip: int = 0
    """WebSocket connections per client address; 0: no limit (NATs carry crowds)."""
    connection_rate_per_ip: float = 0.0
    """New WebSocket connections per second per client address; 0: no limit."""
    connection_burst_per_ip: int = 20
    trusted_proxies: str = ""
    """Comma-separated addresses or CIDR blocks whose ``X-Forwarded-For`` is believed."""
    header_timeout: float = 10.0
    """Seconds a new connection has to send its first request's headers."""
    keepalive_timeout: float = 75.0
    """Seconds an idle keep-alive HTTP connection is kept."""
    join_timeout: float = 10.0
    """Seconds a WebSocket may stay without a joined event (after connecting or leaving)."""
    read_rate: float = 20.0
    """Public API reads per second per client address (``GET /api/...``)."""
    read_burst: int = 40
    list_cache_ttl: float = 1.0
    """Seconds one encoding of an event-list page is served (with an ETag)."""
    auth_failure_rate: float = 1.0
    """Failed API-key checks forgiven per second per client address."""
    auth_failure_burst: int = 10
    """Failed API-key checks in a row before an address gets 429 for every write."""
    blocked_words_file: str = ""
    """Words and phrases refused in comments, one per line, reloaded on SIGHUP."""
    api_keys_file: str = ""
    """A file of named keys with scopes (``livegate.api_keys``), reloaded on SIGHUP."""
    allowed_origins: str = ""
    """Comma-separated web origins whose pages may open a WebSocket besides the server's
    own (``https://app.example.com``, ``https://*.example.com``, ``*``)."""
    allow_local_origins: bool = False
    """Also allow pages served from this machine (``livegate demo``)."""
    ended_retention: float = 86_400.0
    """Seconds an ended event stays (listed, joinable) before it is deleted."""
    viewer_auth: str = "optional"
    """One of :data:`VIEWER_AUTH_MODES`."""
    token_hmac_secret: str = ""
    """HS256 secret of viewer tokens (at least 32 bytes)."""
    token_public_key: str = ""
    """A PEM file: the RS256/ES256 public key of viewer tokens."""
    token_jwks_file: str = ""
    """A JWKS file: viewer token keys by ``kid`` (rotation), reloaded on SIGHUP."""
    token_audience: str = ""
    """If set, a viewer token's ``aud`` must include it."""
    token_issuer: str = ""
    """If set, a viewer token's ``iss`` must equal it."""
    flush_delay: float = 0.005
    """Coalescing: broadcast messages wait up to this long (0: the rest of the loop
    iteration) and each viewer gets all of them in one write; negative: each is written
    at once. 5 ms: a feed's burst shares writes (6 messages a write, 0.16x the floor's
    CPU per delivery in ``docs/benchmarks.md``) for at most 5 ms more latency."""
    workers: int = 1
    """Worker processes on one port (``SO_REUSEPORT``); more than one needs Redis."""
    web_token_url: str = ""
    """Where the web app gets a viewer token (same origin, e.g. ``/auth/livegate-token``):
    the product's own login backend answers ``{"token": "..."}``."""

    def token_verifier(self) -> TokenVerifier | None:
        """The viewer token keys (None: none configured). Raises ValueError."""
        return TokenVerifier.load(
            hmac_secret=self.token_hmac_secret,
            public_key_file=self.token_public_key,
            jwks_file=self.token_jwks_file,
            audience=self.token_audience,
            issuer=self.token_issuer,
        )

    def validate(self) -> None:
        if not 0 < self.port < 65536 and self.port != 0:
            raise ValueError("port must be 0 to 65535")
        if not self.api_key and not self.api_keys_file:
            raise ValueError("an API key is required")
        if self.api_key and len(self.api_key) < MIN_API_KEY_LEN:
            raise ValueError(f"the API key must be at least {MIN_API_KEY_LEN} characters")
        if self.heartbeat_interval <= 0:
            raise ValueError("heartbeat interval must be positive")
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("heartbeat timeout must be longer than the interval")
        if self.history_size < 1:
            raise ValueError("history size must be at least 1")
        if self.viewers_budget < 1:
            raise ValueError("viewers-budget must be at least 1")
        if self.reaction_window <= 0:
            raise ValueError("reaction window must be positive")
        if self.reaction_rate <= 0 or self.reaction_burst < 1:
            raise ValueError("reaction rate must be positive and burst at least 1")
        if self.max_buffer < 1024:
            raise ValueError("max buffer must be at least 1024 bytes")
        if self.drain_window < 0:
            raise ValueError("drain window must not be negative")
        if self.idempotency_ttl <= 0:
            raise ValueError("idempotency TTL must be positive")
        if self.resume_max_messages < 0 or self.resume_max_bytes < 0:
            raise ValueError("resume limits must not be negative")
        if self.max_connections < 0 or self.max_connections_per_ip < 0:
            raise ValueError("connection limits must not be negative")
        if self.connection_rate_per_ip < 0 or self.connection_burst_per_ip < 1:
            raise ValueError("connection rate must not be negative and burst at least 1")
        for name in ("header_timeout", "keepalive_timeout", "join_timeout", "read_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name.replace('_', ' ')} must be positive")
        if self.ended_retention <= 0:
            raise ValueError("ended retention must be positive")
        if self.read_burst < 1 or self.auth_failure_burst < 1 or self.auth_failure_rate <= 0:
            raise ValueError("read and auth-failure limits must be positive")
        parse_networks(self.trusted_proxies.split(","))
        if self.node_id and not (len(self.node_id) <= 64 and valid_event_id(self.node_id)):
            raise ValueError(
                "node id must be at most 64 ASCII letters, digits or '-', '_', '.', ':'"
            )
        OriginPolicy.parse(self.allowed_origins)
        if self.api_keys_file:
            load_key_file(self.api_keys_file)
        CommentFilter.load(self.blocked_words_file)
        check_engine_url(self.engine_url)
        if self.web_token_url and not (
            self.web_token_url.startswith("/") and not self.web_token_url.startswith("//")
        ):
            raise ValueError("the web token URL must be a path on this site, such as /auth/token")
        if self.flush_delay > 0.1:
            raise ValueError("flush delay must be at most 0.1 s: it adds to every latency")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.workers > 1 and not self.engine_url.startswith(("redis://", "rediss://")):
            raise ValueError(
                "more than one worker needs the Redis engine (--engine redis://HOST:PORT/DB): "
                "the memory and SQLite engines belong to one process"
            )
        if self.viewer_auth not in VIEWER_AUTH_MODES:
            raise ValueError(f"viewer auth must be one of {', '.join(VIEWER_AUTH_MODES)}")
        if self.token_verifier() is None and self.viewer_auth == "required":
            raise ValueError(
                "viewer auth 'required' needs a token key (--token-hmac-secret, "
                "--token-public-key or --token-jwks-file)"
            )
        if not (0 < len(self.engine_prefix) <= 64 and valid_event_id(self.engine_prefix)):
            raise ValueError(
                "engine prefix must be 1 to 64 ASCII letters, digits or '-', '_', '.', ':'"
            )
