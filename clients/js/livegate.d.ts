// Type declarations for @livegate/client (livegate.js). Wire protocol v1:
// docs/protocol.md in the livegate repository.

/** The client's connection state. */
export type State = "connecting" | "connected" | "reconnecting" | "disconnected";

/**
 * Close codes after which the client does not reconnect: 4001 (unauthorized) and 1008
 * (policy). With `getToken`, one 4001 is retried with a fresh token.
 */
export declare const CLOSE_CODES_NO_RETRY: readonly number[];

/** A JSON value as the server sends it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A score message: one accepted update of the event. */
export interface ScoreMessage {
  type: "score";
  eventId: string;
  /** Counts the event's updates from 1 with no gap, within one epoch. */
  seq: number;
  /** When the server accepted the update, in ms since the Unix epoch. */
  ts: number;
  /** The publisher's payload, verbatim; its shape depends on the sport. */
  data: { [key: string]: Json };
}

/** The answer to every join: the event's state now. */
export interface JoinedMessage {
  type: "joined";
  eventId: string;
  /** Names the event's seq history; seqs are comparable only within one epoch. */
  epoch: string;
  sport: string;
  title: string;
  status: "scheduled" | "live" | "ended";
  /** The seq of the latest update (0 before the first); `snapshot` is that update. */
  seq: number;
  /** Live viewers of the event, this connection included. */
  viewers: number;
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** The latest update's data, or null before the first. */
  snapshot: { [key: string]: Json } | null;
  /**
   * Present on resumes (the client sent `since`). true: the missed scores follow as
   * "score" events and the application keeps its state. false (or absent): reset
   * the application's state from `snapshot`.
   */
  recovered?: boolean;
  /** On resumes: the scores after `since` (empty unless recovered). */
  missed?: ScoreMessage[];
  /** Present when the join carried a token: who the server takes the viewer to be. */
  viewer?: Viewer;
}

/** The viewer a token names (`joined.viewer`). */
export interface Viewer {
  /** The token's `sub`: the viewer id the server uses. */
  id: string;
  /** The token's display name, when it has one. */
  name?: string;
  /** The token's seconds left; null: it does not expire. */
  expiresIn: number | null;
}

/** The answer to the client's `refresh`: the new token is the connection's. */
export interface RefreshedMessage {
  type: "refreshed";
  /** The new token's seconds left; null: it does not expire. */
  expiresIn: number | null;
}

/** One comment of a reactions aggregate. */
export interface ReactionComment {
  /** The viewer id: vouched for only when `verified` (an anonymous viewer picks its own). */
  id: string;
  emoji: string;
  comment: string;
  /** true when the viewer joined with a token. */
  verified?: true;
  /** The token's display name (verified viewers whose token has one). */
  name?: string;
}

/** One reaction window's aggregate. Add up several (one per node and window). */
export interface ReactionsMessage {
  type: "reactions";
  eventId: string;
  windowMs: number;
  /** Emoji to count; at most 16 keys, the rarest folded into "other". */
  counts: { [emoji: string]: number };
  /** A uniform sample of at most 10 of the window's comments. */
  comments: ReactionComment[];
}

export interface ViewersMessage {
  type: "viewers";
  eventId: string;
  count: number;
}

export interface EndedMessage {
  type: "ended";
  eventId: string;
  /** The result, when the scorer gave one. */
  result?: string;
}

/** The server's error codes (protocol section 4). */
export type ServerErrorCode =
  | "bad_json"
  | "not_an_object"
  | "too_deep"
  | "unknown_type"
  | "missing_field"
  | "bad_field"
  | "not_joined"
  | "unknown_event"
  | "id_mismatch"
  | "rate_limited"
  | "event_ended"
  | "comment_refused"
  | "muted"
  /** The token does not cover the event, or the event is private: the client stops. */
  | "forbidden"
  /** A token refused; the server closes with 4001 right after. */
  | "bad_token"
  | "token_expired"
  | "token_required";

/**
 * An error answered by the server. The connection stays open, except after
 * bad_token, token_expired and token_required (a 4001 close follows).
 */
export interface ServerErrorMessage {
  type: "error";
  /** A machine word; `message` is for people. */
  code: ServerErrorCode;
  message: string;
}

/** Emitted by the client when the server closed with a no-retry code (4001, 1008). */
export interface ClosedErrorMessage {
  type: "error";
  code: "closed";
  closeCode: number;
  reason: string;
  message: string;
}

/**
 * Emitted by the client when `getToken` threw, rejected, did not settle within
 * `openTimeout`, or returned something that is not a token: the attempt (or the
 * refresh) failed, and is retried.
 */
export interface TokenUnavailableMessage {
  type: "error";
  code: "token_unavailable";
  message: string;
}

export type ErrorMessage = ServerErrorMessage | ClosedErrorMessage | TokenUnavailableMessage;

/**
 * The second argument of "state" handlers.
 * - "connected": `recovered` of the joined that connected it (null on a first join).
 * - "reconnecting" and "disconnected": the close `code` and `reason`; 1006 with a
 *   reason for losses without a close frame (network error, silent server, open timeout,
 *   no token from `getToken`); 1000 "closed by client" after `close()`; 1000
 *   "join refused: forbidden" after a `forbidden` join.
 */
export type StateDetail = { recovered: boolean | null } | { code: number; reason: string };

export interface EventMap {
  joined: (message: JoinedMessage) => void;
  score: (message: ScoreMessage) => void;
  reactions: (message: ReactionsMessage) => void;
  viewers: (message: ViewersMessage) => void;
  ended: (message: EndedMessage) => void;
  refreshed: (message: RefreshedMessage) => void;
  error: (message: ErrorMessage) => void;
  state: (state: State, detail: StateDetail) => void;
}

/** Exponential backoff with full jitter, in seconds: random() * min(cap, base * 2**attempt). */
export declare class Backoff {
  constructor(options?: { base?: number; cap?: number });
  readonly base: number;
  readonly cap: number;
  /** The longest wait before attempt `attempt` (0 for the first retry), in seconds. */
  ceiling(attempt: number): number;
  /** The wait before attempt `attempt`, in seconds. */
  delay(attempt: number, random?: () => number): number;
}

/** Anything constructible like the browser's WebSocket. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WebSocket;

/** Anything constructible like the browser's Worker. */
export type WorkerClass = new (url: string | URL, options?: { name?: string }) => Worker;

/**
 * A source of fresh viewer tokens, called before every connection attempt and before
 * the current token expires: a token, null (join without one, as `id`), or a Promise
 * of either. Throwing or rejecting fails the attempt ("error" token_unavailable).
 */
export type TokenSource = () => string | null | Promise<string | null>;

export interface ConnectOptions {
  /**
   * The viewer's user id: 1 to 128 characters, no control characters. Required
   * unless `token` or `getToken` is given (the server then takes the token's `sub`);
   * given with a token it must equal the token's `sub`.
   */
  id?: string | null;
  /** The event to follow: 1 to 128 of A-Z a-z 0-9 - _ . : */
  eventId: string;
  /**
   * A viewer token (a JWT: an ASCII string of 1 to 2048 characters) sent with every
   * join. It cannot be refreshed: at its expiry the server closes with 4001 and the
   * client stops. Use `getToken` for tokens that expire.
   */
  token?: string | null;
  /** Fresh tokens from the product's backend; not with `token`. See README.md. */
  getToken?: TokenSource | null;
  /** The WebSocket class to use; default globalThis.WebSocket. */
  WebSocket?: WebSocketClass;
  /**
   * The Worker class for the timer worker; default globalThis.Worker. null: use
   * main-thread timers (hidden browser tabs then throttle the heartbeat).
   */
  Worker?: WorkerClass | null;
  /** Reconnect delays in seconds; default {base: 0.5, cap: 20}. */
  backoff?: Backoff | { base?: number; cap?: number };
  /** The randomness of the jitter, () => [0, 1); default Math.random. */
  random?: () => number;
  /** Reactions per second the client lets through; default 5, as the server. */
  reactionRate?: number;
  /** Reaction burst; default 10, as the server. */
  reactionBurst?: number;
  /** Seconds for `getToken` to answer, and to open a connection and get the join answered, before retrying; default 10. */
  openTimeout?: number;
}

/** A self-healing connection to one event. */
export declare class Client {
  constructor(url: string | URL, options: ConnectOptions);
  /** "connecting" until the first join, then "connected" / "reconnecting"; "disconnected" is final. */
  readonly state: State;
  /** The seq of the newest score emitted (or joined.seq after a non-recovered join); null before a join. */
  readonly lastSeq: number | null;
  /** The latest joined message, or null before the first. */
  readonly joined: JoinedMessage | null;
  /** Subscribe; returns the unsubscribe function. Handlers that throw are logged and ignored. */
  on<K extends keyof EventMap>(type: K, handler: EventMap[K]): () => void;
  /**
   * Send a reaction; true if sent. false without sending if it is invalid (emoji 1 to
   * 16 characters without whitespace, comment at most 280 after trimming), the event
   * has ended, the client is not connected, or the client-side rate limit refused it.
   * Never throws.
   */
  react(emoji: string, comment?: string | null): boolean;
  /** Close (code 1000) and stop for good; state "disconnected". Idempotent. */
  close(): void;
  /** If waiting to reconnect, reconnect now (also done on the browser's `online` event). */
  reconnectNow(): void;
  /** @internal Send a raw frame, unchecked (tests of the server's bad-input handling). */
  _sendRaw(text: string): boolean;
  /** @internal "worker" or "main": what drives the client's timers. */
  readonly _timerKind: "worker" | "main";
}

/**
 * Connect to `url` (ws://host:8080/ws, or "/ws" resolved against the page) and
 * follow `options.eventId`. Throws TypeError at once for invalid options.
 */
export declare function connect(url: string | URL, options: ConnectOptions): Client;

/**
 * The reaction as the server would accept it, trimmed, or null if the server would
 * refuse it. Lengths count code points, as the server does.
 */
export declare function normalizeReaction(
  emoji: unknown,
  comment?: unknown,
): { emoji: string; comment?: string } | null;
