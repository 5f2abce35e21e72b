// livegate JavaScript SDK: follow one live event over the livegate WebSocket.
//
// One ES module, no dependencies; runs in browsers and in Node >= 20 (with a
// global WebSocket: Node 22+, or Node 20 with --experimental-websocket, or pass
// `WebSocket` in the options). The wire protocol is docs/protocol.md; this module
// mirrors the contract of the Python SDK (src/livegate/client.py):
//
// - connect() validates its options (TypeError on a bad id, event id, URL, ...)
//   and starts connecting at once. The client then keeps itself connected: it
//   pings at joined.heartbeat.intervalMs, treats a server silent for longer than
//   joined.heartbeat.timeoutMs as dead, and reconnects after every close or
//   network error except close codes 4001 and 1008, waiting
//   random() * min(cap, base * 2**attempt) seconds (exponential backoff, full
//   jitter; attempt restarts at 0 after every successful join).
// - Viewer tokens (protocol section 2.5): `token` is sent with every join; or
//   `getToken` (returning a token, null, or a Promise of one) is called before
//   every connection attempt and again at four fifths of joined.viewer.expiresIn,
//   whose token goes out as a `refresh`. A getToken that throws or rejects is a
//   failed attempt ("error" token_unavailable, then the usual backoff). With
//   getToken a 4001 close (a token expired or refused) reconnects with a fresh
//   token, unless the attempt after it is closed with 4001 again: then, as
//   always without getToken, the client stops. A join refused with `forbidden`
//   (the token does not cover the event, or the event is private) is never
//   retried. `id` may be left out with a token: the server takes the token's sub.
// - Every join after the first sends since = lastSeq and the epoch of the last
//   joined. "joined" is emitted for every join; if recovered is true the missed
//   scores follow as "score" events, else lastSeq restarts from joined.seq and
//   the application resets its state from joined.snapshot.
// - Within one epoch each score is emitted once, in increasing seq; a score
//   whose seq is not above lastSeq is dropped, and one that skips ahead makes
//   the client rejoin with since = lastSeq to fetch the gap.
// - Handlers never break the client: what they throw is logged and swallowed.
//
// Timers: browsers throttle main-thread timers in hidden tabs (Chrome: once a
// minute after five minutes hidden), which would starve the heartbeat and get
// the connection closed by the server. The heartbeat and reconnect timers
// therefore run in a tiny dedicated Web Worker (made from a Blob URL) when
// Worker exists, and fall back to setTimeout/setInterval (Node, or a CSP that
// forbids blob: workers). See README.md.

/**
 * Close codes after which the client must not reconnect (protocol section 5).
 * With getToken, one 4001 is retried with a fresh token (see the module comment).
 */
export const CLOSE_CODES_NO_RETRY = Object.freeze([4001, 1008]);

const NO_RETRY = new Set(CLOSE_CODES_NO_RETRY);
const CLOSE_UNAUTHORIZED = 4001;
const CLOSE_RATE_LIMIT_ABUSE = 4008;
const CLOSE_ABNORMAL = 1006; // reported for losses without a close frame
const NORMAL_CLOSURE = 1000;
const OPEN = 1; // WebSocket.OPEN, without relying on the injected class's statics
const CONNECTING = 0;

const DEFAULT_INTERVAL_MS = 15_000; // protocol section 7: before the first joined
const DEFAULT_TIMEOUT_MS = 45_000;
const MAX_CLIENT_FRAME = 4096; // bytes
const MAX_ID_LEN = 128;
const MAX_TOKEN_LEN = 2048;
const MAX_EMOJI_LEN = 16;
const MAX_COMMENT_LEN = 280;
const EVENT_ID = /^[A-Za-z0-9\-_.:]{1,128}$/;
const ASCII = /^[\x00-\x7f]*$/;
const REFRESH_AT = 0.8; // refresh a token when four fifths of its expiresIn have passed
const MIN_REFRESH_MS = 1000;
// The server's answers to a refused token; the 4001 close that follows decides what next.
const TOKEN_REFUSED = new Set(["bad_token", "token_expired", "token_required"]);
const FORBIDDEN = "forbidden";

// Python's str.isspace() / str.strip() set, which the server uses. JavaScript's
// trim() differs (it strips U+FEFF and keeps U+001C..U+001F).
const PY_SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
const HAS_SPACE = new RegExp(`[${PY_SPACE}]`, "u");
const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "gu");
// Control characters as the server refuses them: Cc always; Cf, Cs, Zl, Zp too,
// except (in emoji and comments) ZWJ, VS15, VS16 and tag characters.
const CONTROL = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const CONTROL_BUT_EMOJI_JOINERS = /(?![\u200d\ufe0e\ufe0f\u{e0020}-\u{e007f}])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

const codePoints = (text) => {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
};
const utf8Length = (text) => new TextEncoder().encode(text).length;
const isSeq = (v) => Number.isSafeInteger(v) && v >= 0;
const positiveMs = (v, fallback) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : fallback);
const monotonic =
  typeof globalThis.performance?.now === "function" ? () => globalThis.performance.now() : () => Date.now();

// -- backoff ---------------------------------------------------------------------

/**
 * Exponential backoff with full jitter between reconnect attempts, in seconds.
 * Attempt n (0 for the first retry) waits random() * min(cap, base * 2**n):
 * full jitter spreads a crowd dropped at once (a server restart) over the whole
 * window instead of bringing it back in lockstep.
 */
export class Backoff {
  constructor({ base = 0.5, cap = 20 } = {}) {
    if (!(typeof base === "number" && base > 0 && Number.isFinite(base))) {
      throw new TypeError("livegate: backoff base must be a positive number of seconds");
    }
    if (!(typeof cap === "number" && cap >= base)) {
      throw new TypeError("livegate: backoff cap must be at least the base");
    }
    this.base = base;
    this.cap = cap;
    Object.freeze(this);
  }

  /** The longest wait before attempt `attempt` (>= 0), in seconds. */
  ceiling(attempt) {
    const n = Math.min(Math.max(Math.floor(attempt) || 0, 0), 1000);
    return Math.min(this.cap, this.base * 2 ** n); // Infinity * ... turns into cap
  }

  /** The wait before attempt `attempt`, in seconds, drawn from `random`. */
  delay(attempt, random = Math.random) {
    return random() * this.ceiling(attempt);
  }
}

// -- reactions: the server's checks, so bad input is never sent -------------------

/**
 * The reaction as the server would accept it, trimmed ({emoji} or {emoji,
 * comment}), or null if the server would refuse it (protocol section 2.2):
 * emoji 1 to 16 characters without whitespace or control characters, comment at
 * most 280 characters after trimming. Characters are code points, as the server
 * counts them ("🏏".length is 2 in JavaScript, but it is 1 character).
 */
export function normalizeReaction(emoji, comment) {
  if (typeof emoji !== "string") return null;
  const e = emoji.replace(STRIP, "");
  const n = codePoints(e);
  if (n < 1 || n > MAX_EMOJI_LEN || HAS_SPACE.test(e) || CONTROL_BUT_EMOJI_JOINERS.test(e)) return null;
  if (comment === undefined || comment === null) return { emoji: e };
  if (typeof comment !== "string") return null;
  const c = comment.replace(STRIP, "");
  if (codePoints(c) > MAX_COMMENT_LEN || CONTROL_BUT_EMOJI_JOINERS.test(c)) return null;
  return c ? { emoji: e, comment: c } : { emoji: e };
}

/** Token bucket as the server's (src/livegate/ratelimit.py): starts full. */
class TokenBucket {
  constructor(rate, burst) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = monotonic();
  }

  take() {
    const now = monotonic();
    const elapsed = (now - this.last) / 1000;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

// -- timers: in a Web Worker when possible -------------------------------------------

// Worker timers are not subject to the intensive throttling of hidden tabs.
// The worker only keeps time; every decision is taken on the main thread.
const WORKER_SOURCE = `"use strict";
const handles = new Map();
onmessage = (event) => {
  const m = event.data;
  if (m.op === "set") {
    const fire = () => { if (!m.repeat) handles.delete(m.id); postMessage(m.id); };
    handles.set(m.id, m.repeat ? setInterval(fire, m.ms) : setTimeout(fire, m.ms));
  } else if (m.op === "clear") {
    const h = handles.get(m.id);
    if (h !== undefined) { clearTimeout(h); clearInterval(h); handles.delete(m.id); }
  }
};
postMessage("ready");
`;
const WORKER_READY_TIMEOUT_MS = 2000;

/**
 * setTimeout/setInterval driven by a dedicated worker (kind "worker") or by the
 * main thread (kind "main"). Falls back to the main thread if the worker cannot
 * be created, reports an error, or does not start within 2 s.
 */
function createTimers(WorkerClass) {
  const jobs = new Map(); // id -> {fn, ms, repeat, handle}
  let nextId = 1;
  let kind = "main";
  let worker = null;
  let blobUrl = null;
  let watchdog = null;

  const armMain = (id, job) => {
    const run = () => {
      if (!job.repeat) jobs.delete(id);
      job.fn();
    };
    job.handle = job.repeat ? setInterval(run, job.ms) : setTimeout(run, job.ms);
  };
  const disarmMain = (job) => {
    clearTimeout(job.handle);
    clearInterval(job.handle);
  };
  const releaseWorker = () => {
    if (watchdog !== null) clearTimeout(watchdog);
    watchdog = null;
    if (blobUrl !== null) URL.revokeObjectURL(blobUrl);
    blobUrl = null;
    if (worker !== null) {
      try {
        worker.terminate();
      } catch {
        // already gone
      }
    }
    worker = null;
  };
  const fallBack = (why) => {
    if (kind !== "worker") return;
    console.warn(`livegate: timer worker unavailable (${why}); using main-thread timers`);
    kind = "main";
    releaseWorker();
    for (const [id, job] of jobs) armMain(id, job);
  };

  if (typeof WorkerClass === "function" && typeof Blob === "function" && typeof URL?.createObjectURL === "function") {
    try {
      blobUrl = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      worker = new WorkerClass(blobUrl, { name: "livegate-timers" });
      kind = "worker";
      worker.addEventListener("message", (event) => {
        const id = event.data;
        if (id === "ready") {
          if (watchdog !== null) clearTimeout(watchdog);
          watchdog = null;
          if (blobUrl !== null) URL.revokeObjectURL(blobUrl);
          blobUrl = null;
          return;
        }
        const job = jobs.get(id);
        if (job === undefined) return; // cleared meanwhile
        if (!job.repeat) jobs.delete(id);
        job.fn();
      });
      worker.addEventListener("error", (event) => {
        event?.preventDefault?.();
        fallBack(event?.message || "error");
      });
      watchdog = setTimeout(() => fallBack("did not start"), WORKER_READY_TIMEOUT_MS);
    } catch (err) {
      kind = "worker"; // so that fallBack runs
      fallBack(err?.message || String(err));
    }
  }

  const add = (fn, ms, repeat) => {
    const id = nextId++;
    const job = { fn, ms: Math.max(0, ms), repeat, handle: null };
    jobs.set(id, job);
    if (kind === "worker") worker.postMessage({ op: "set", id, ms: job.ms, repeat });
    else armMain(id, job);
    return id;
  };

  return {
    get kind() {
      return kind;
    },
    setTimeout: (fn, ms) => add(fn, ms, false),
    setInterval: (fn, ms) => add(fn, ms, true),
    clear(id) {
      const job = jobs.get(id);
      if (job === undefined) return;
      jobs.delete(id);
      if (kind === "worker") worker.postMessage({ op: "clear", id });
      else disarmMain(job);
    },
    dispose() {
      for (const job of jobs.values()) if (kind === "main") disarmMain(job);
      jobs.clear();
      releaseWorker();
      kind = "main";
    },
  };
}

// -- the client ------------------------------------------------------------------------

function resolveUrl(url) {
  if (typeof url !== "string" && !(url instanceof URL)) {
    throw new TypeError("livegate: url must be a string such as ws://host:8080/ws or /ws");
  }
  const base = globalThis.location?.href;
  let parsed;
  try {
    parsed = base ? new URL(url, base) : new URL(url);
  } catch {
    throw new TypeError(`livegate: invalid url ${JSON.stringify(String(url))} (a relative url needs a browser page)`);
  }
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TypeError(`livegate: url must be ws:, wss:, http: or https:, not ${parsed.protocol}`);
  }
  parsed.hash = "";
  return parsed.href;
}

/** Why the server would refuse `token` in a join of `id` and `eventId`, or null if it would not. */
function tokenProblem(token, id, eventId) {
  if (typeof token !== "string") return `it is ${token === null ? "null" : `a ${typeof token}`}, not a string`;
  if (token.length < 1 || token.length > MAX_TOKEN_LEN || !ASCII.test(token)) {
    return "it is not an ASCII string of 1 to 2048 characters";
  }
  // The biggest join this client will ever send must fit the server's frame limit,
  // or every reconnect would be closed with 1009 again.
  if (utf8Length(biggestJoin(id, eventId, token)) > MAX_CLIENT_FRAME) {
    return "with the id and eventId it is too long for one message (4096 bytes)";
  }
  return null;
}

function biggestJoin(id, eventId, token) {
  return JSON.stringify({
    type: "join",
    ...(id !== null ? { id } : {}),
    eventId,
    since: Number.MAX_SAFE_INTEGER,
    epoch: "e".repeat(64),
    ...(token !== null ? { token } : {}),
  });
}

function checkOptions(options) {
  if (options === null || typeof options !== "object") throw new TypeError("livegate: options are required");
  const { eventId } = options;
  const id = options.id ?? null;
  const token = options.token ?? null;
  const getToken = options.getToken ?? null;
  if (getToken !== null && typeof getToken !== "function") {
    throw new TypeError("livegate: getToken must be a function returning a token, null, or a Promise of one");
  }
  if (token !== null && getToken !== null) throw new TypeError("livegate: give token or getToken, not both");
  if (id === null && token === null && getToken === null) {
    throw new TypeError("livegate: id is required (it may be left out with a token or getToken)");
  }
  if (id !== null && (typeof id !== "string" || codePoints(id) < 1 || codePoints(id) > MAX_ID_LEN || CONTROL.test(id))) {
    throw new TypeError("livegate: id must be a string of 1 to 128 characters without control characters");
  }
  if (typeof eventId !== "string" || !EVENT_ID.test(eventId)) {
    throw new TypeError("livegate: eventId must be 1 to 128 of A-Z a-z 0-9 - _ . :");
  }
  if (token !== null) {
    const problem = tokenProblem(token, id, eventId);
    if (problem !== null) throw new TypeError(`livegate: bad token: ${problem}`);
  } else if (utf8Length(biggestJoin(id, eventId, null)) > MAX_CLIENT_FRAME) {
    throw new TypeError("livegate: id and eventId together are too long for one message (4096 bytes)");
  }
  const WS = options.WebSocket ?? globalThis.WebSocket;
  if (typeof WS !== "function") {
    throw new TypeError(
      "livegate: no WebSocket class: pass options.WebSocket, use Node >= 22, or run Node 20 with --experimental-websocket",
    );
  }
  const random = options.random ?? Math.random;
  if (typeof random !== "function") throw new TypeError("livegate: random must be a function");
  const backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff ?? {});
  const rate = options.reactionRate ?? 5;
  const burst = options.reactionBurst ?? 10;
  if (!(typeof rate === "number" && rate > 0) || !(typeof burst === "number" && burst >= 1)) {
    throw new TypeError("livegate: reactionRate must be positive and reactionBurst at least 1");
  }
  const openTimeout = options.openTimeout ?? 10;
  if (!(typeof openTimeout === "number" && openTimeout > 0)) {
    throw new TypeError("livegate: openTimeout must be a positive number of seconds");
  }
  const WorkerClass = options.Worker === undefined ? globalThis.Worker : options.Worker;
  return { id, eventId, token, getToken, WS, random, backoff, rate, burst, openTimeout, WorkerClass };
}

/**
 * A self-healing connection to one event. Create it with connect(); see the
 * module comment and README.md for the contract.
 */
export class Client {
  #url;
  #id; // null: the server takes the viewer id from the token's sub
  #eventId;
  #token; // the token of the current connection (from getToken, or the static one), or null
  #getToken;
  #WS;
  #random;
  #backoff;
  #openTimeoutMs;
  #bucket;
  #timers;
  #handlers = new Map();
  #cleanups = [];

  #state = "connecting";
  #phase = "idle"; // "token" (getToken) | "opening" (socket, no joined yet) | "joined" | "waiting" (backoff) | "closed"
  #ws = null;
  #everJoined = false;
  #joined = null;
  #epoch = null;
  #lastSeq = null;
  #ended = false;
  #attempt = 0;
  #retryTimer = null;
  #ticker = null;
  #tickMs = 0;
  #openedAt = 0;
  #lastHeard = 0;
  #lastPing = 0;
  #pings = 0;
  #intervalMs = DEFAULT_INTERVAL_MS;
  #timeoutMs = DEFAULT_TIMEOUT_MS;
  #rejoinPending = false;
  #tokenRequests = 0; // getToken calls made; an answer to an older one is stale
  #refreshTimer = null;
  #expiresAt = 0; // Date.now() at which the current token expires (with a refresh due)
  #unauthorized = 0; // 4001 closes since the last successful join

  constructor(url, options) {
    const o = checkOptions(options);
    this.#url = resolveUrl(url);
    this.#id = o.id;
    this.#eventId = o.eventId;
    this.#token = o.token;
    this.#getToken = o.getToken;
    this.#WS = o.WS;
    this.#random = o.random;
    this.#backoff = o.backoff;
    this.#openTimeoutMs = o.openTimeout * 1000;
    this.#bucket = new TokenBucket(o.rate, o.burst);
    this.#timers = createTimers(o.WorkerClass);
    this.#listenToPage();
    this.#open();
  }

  // -- public API ----------------------------------------------------------------

  /** "connecting" (until the first join) | "connected" | "reconnecting" | "disconnected". */
  get state() {
    return this.#state;
  }

  /** The seq of the newest score emitted (or of the last non-recovered joined); null before a join. */
  get lastSeq() {
    return this.#lastSeq;
  }

  /** The latest joined message, or null before the first. */
  get joined() {
    return this.#joined;
  }

  /**
   * Subscribe to "joined", "score", "reactions", "viewers", "ended", "refreshed",
   * "error" or "state"; returns the unsubscribe function.
   */
  on(type, handler) {
    if (typeof type !== "string") throw new TypeError("livegate: on(type, handler) needs a string type");
    if (typeof handler !== "function") throw new TypeError("livegate: on(type, handler) needs a function");
    let set = this.#handlers.get(type);
    if (set === undefined) this.#handlers.set(type, (set = new Set()));
    // A wrapper per subscription, so subscribing the same function twice gives two
    // independent subscriptions, and off() removes exactly one.
    const entry = (...args) => handler(...args);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /**
   * Send a reaction. Returns true if it was sent; false, without sending, if the
   * server would refuse it (invalid emoji or comment, event ended), the client is
   * not connected, or the client-side rate limit (the server's token bucket:
   * reactionRate per second, burst reactionBurst) has no token. Never throws.
   */
  react(emoji, comment) {
    const reaction = normalizeReaction(emoji, comment);
    if (reaction === null || this.#phase !== "joined" || this.#ended) return false;
    if (this.#ws === null || this.#ws.readyState !== OPEN) return false;
    if (!this.#bucket.take()) return false;
    return this.#send({ type: "reaction", ...reaction });
  }

  /** Close the connection (code 1000) and stop for good; state becomes "disconnected". Idempotent. */
  close() {
    if (this.#phase === "closed") return;
    this.#shutdown();
    this.#setState("disconnected", { code: NORMAL_CLOSURE, reason: "closed by client" });
  }

  /** If the client is waiting to reconnect, reconnect now instead. Otherwise does nothing. */
  reconnectNow() {
    if (this.#phase !== "waiting") return;
    this.#timers.clear(this.#retryTimer);
    this.#retryTimer = null;
    this.#open();
  }

  /**
   * Send `text` as it is, unchecked; false if not connected. For tests of the
   * server's handling of bad input only: bad frames count toward a 1008 close.
   * @internal
   */
  _sendRaw(text) {
    if (this.#ws === null || this.#ws.readyState !== OPEN) return false;
    try {
      this.#ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** "worker" or "main": what drives the heartbeat and reconnect timers. @internal */
  get _timerKind() {
    return this.#timers.kind;
  }

  // -- connection ----------------------------------------------------------------

  #open() {
    this.#retryTimer = null;
    this.#rejoinPending = false;
    if (this.#getToken === null) {
      this.#openSocket();
      return;
    }
    // A fresh token for every attempt: the last one may have expired or been
    // refused. The open timeout covers a getToken that never settles (a fetch
    // that hangs), so the client cannot get stuck in this phase.
    this.#phase = "token";
    this.#openedAt = Date.now();
    this.#startTicker(DEFAULT_INTERVAL_MS, DEFAULT_TIMEOUT_MS);
    const request = ++this.#tokenRequests;
    this.#fetchToken().then(
      (token) => {
        if (this.#phase !== "token" || request !== this.#tokenRequests) return; // closed or timed out meanwhile
        if (token === null && this.#id === null) {
          this.#tokenUnavailable("getToken returned no token, and without an id the client cannot join anonymously");
          return;
        }
        this.#token = token;
        this.#openSocket();
      },
      (err) => {
        if (this.#phase === "token" && request === this.#tokenRequests) this.#tokenUnavailable(err.message);
      },
    );
  }

  /** A token from getToken (null: none); rejects with an Error saying what went wrong. */
  async #fetchToken() {
    let token;
    try {
      token = await this.#getToken();
    } catch (err) {
      throw new Error(`getToken failed: ${err?.message || err}`);
    }
    if (token === undefined || token === null) return null;
    const problem = tokenProblem(token, this.#id, this.#eventId);
    if (problem !== null) throw new Error(`getToken returned a bad token: ${problem}`);
    return token;
  }

  /** No token for this attempt: a failed attempt, retried with the usual backoff. */
  #tokenUnavailable(message) {
    this.#emit("error", { type: "error", code: "token_unavailable", message });
    this.#lost({ code: CLOSE_ABNORMAL, reason: `no token: ${message}` });
  }

  #openSocket() {
    this.#phase = "opening";
    this.#openedAt = Date.now();
    this.#lastHeard = this.#openedAt;
    let ws;
    try {
      ws = new this.#WS(this.#url);
    } catch (err) {
      this.#ws = null;
      this.#lost({ code: CLOSE_ABNORMAL, reason: `cannot open: ${err?.message || err}` });
      return;
    }
    this.#ws = ws;
    ws.addEventListener("open", () => {
      if (ws === this.#ws) this.#onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (ws === this.#ws) this.#onMessage(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (ws === this.#ws) this.#lost({ code: event.code || CLOSE_ABNORMAL, reason: event.reason || "" });
    });
    // A failure to connect may fire "error" without a "close" (Node 20's undici
    // does), so an error ends the connection too; a close event that follows
    // finds this socket already abandoned.
    ws.addEventListener("error", () => {
      if (ws === this.#ws) this.#lost({ code: CLOSE_ABNORMAL, reason: "connection error" });
    });
    this.#startTicker(DEFAULT_INTERVAL_MS, DEFAULT_TIMEOUT_MS);
  }

  #onOpen() {
    this.#lastHeard = Date.now();
    this.#send(this.#joinMessage(this.#everJoined ? this.#lastSeq : null));
  }

  /** A join, resuming from `since` unless it is null; it carries the current token. */
  #joinMessage(since) {
    const join = { type: "join" };
    if (this.#id !== null) join.id = this.#id;
    join.eventId = this.#eventId;
    if (since !== null) {
      join.since = since;
      if (this.#epoch !== null) join.epoch = this.#epoch;
    }
    if (this.#token !== null) join.token = this.#token;
    return join;
  }

  #onMessage(data) {
    this.#lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      message = null;
    }
    if (message === null || typeof message !== "object" || Array.isArray(message) || typeof message.type !== "string") {
      console.warn("livegate: ignoring a malformed server frame:", String(data).slice(0, 200));
      return;
    }
    if (this.#phase === "opening") {
      if (message.type === "joined") this.#onJoined(message);
      else if (message.type === "error") this.#onJoinRefused(message);
      // Nothing else is due before joined; skip it.
      return;
    }
    switch (message.type) {
      case "pong":
        return;
      case "score":
        this.#onScore(message);
        return;
      case "joined":
        this.#onJoined(message); // the answer to a rejoin after a seq gap
        return;
      case "ended":
        this.#ended = true;
        this.#emit("ended", message);
        return;
      case "refreshed":
        this.#scheduleRefresh(message.expiresIn);
        this.#emit("refreshed", message);
        return;
      case "error":
        // After a refresh whose token no longer covers the event (the server made
        // the viewer leave it), or a seq-gap rejoin refused: as a refused join.
        if (message.code === FORBIDDEN) this.#stopForbidden(message);
        else this.#emit("error", message);
        return;
      default:
        this.#emit(message.type, message);
    }
  }

  #onJoined(joined) {
    this.#joined = joined;
    if (typeof joined.epoch === "string") this.#epoch = joined.epoch;
    this.#ended = joined.status === "ended";
    this.#everJoined = true;
    this.#attempt = 0;
    this.#unauthorized = 0;
    this.#phase = "joined";
    this.#rejoinPending = false;
    this.#scheduleRefresh(joined.viewer !== null && typeof joined.viewer === "object" ? joined.viewer.expiresIn : null);
    const recovered = joined.recovered === true;
    if (!recovered) {
      // First join, or a resume the server could not serve: the snapshot is the
      // state now and joined.seq the point to resume from (it may go down: a
      // restarted memory store counts from 0 again, under a new epoch).
      this.#lastSeq = isSeq(joined.seq) ? joined.seq : null;
    }
    const hb = joined.heartbeat ?? {};
    this.#startTicker(positiveMs(hb.intervalMs, DEFAULT_INTERVAL_MS), positiveMs(hb.timeoutMs, DEFAULT_TIMEOUT_MS));
    this.#lastPing = Date.now();
    this.#setState("connected", { recovered: joined.recovered ?? null });
    if (this.#phase !== "joined") return; // a handler closed the client
    this.#emit("joined", joined);
    if (recovered && Array.isArray(joined.missed)) {
      for (const score of joined.missed) {
        if (this.#phase !== "joined" || this.#joined !== joined) return;
        if (score !== null && typeof score === "object") this.#onScore(score);
      }
    }
    if (recovered && isSeq(joined.seq) && !this.#rejoinPending && (this.#lastSeq === null || this.#lastSeq < joined.seq)) {
      // Cannot happen with a conforming server: missed covers since+1 ... seq.
      console.warn(`livegate: recovered join left a gap (last seq ${this.#lastSeq}, joined.seq ${joined.seq})`);
      this.#lastSeq = joined.seq;
    }
  }

  #onJoinRefused(error) {
    if (error.code === FORBIDDEN) {
      this.#stopForbidden(error);
      return;
    }
    if (TOKEN_REFUSED.has(error.code)) {
      // The server closes with 4001 right after; that close decides whether to
      // retry (with getToken) or stop. Always told: it says why.
      this.#emit("error", error);
      return;
    }
    // unknown_event on a reconnect usually means a restarted server whose event is
    // not recreated yet: retried with backoff like a network error. On the first
    // connection the application is told (it may be a wrong event id) and the
    // client retries all the same.
    if (!this.#everJoined) this.#emit("error", error);
    if (this.#phase === "opening") {
      this.#lost({ code: NORMAL_CLOSURE, reason: `join refused: ${error.code}` });
    }
  }

  /**
   * The token does not cover the event, or the event is private: the same join
   * would be refused forever (and the same token source would not change that).
   */
  #stopForbidden(error) {
    this.#shutdown();
    this.#setState("disconnected", { code: NORMAL_CLOSURE, reason: "join refused: forbidden" });
    this.#emit("error", error);
  }

  #onScore(score) {
    const seq = score.seq;
    if (!isSeq(seq)) {
      console.warn("livegate: dropping a score without a valid seq:", score);
      return;
    }
    if (this.#rejoinPending) return; // the rejoin's joined covers it
    if (this.#lastSeq !== null && seq <= this.#lastSeq) return;
    if (this.#lastSeq !== null && seq > this.#lastSeq + 1) {
      // A gap: never with the server's guarantees, but fetch it rather than skip it.
      console.warn(`livegate: seq skipped from ${this.#lastSeq} to ${seq}; rejoining to recover the gap`);
      this.#rejoinPending = true;
      this.#send(this.#joinMessage(this.#lastSeq));
      return;
    }
    this.#lastSeq = seq;
    this.#emit("score", score);
  }

  /** The connection is over; reconnect with backoff unless the code forbids it. */
  #lost(detail) {
    if (this.#phase === "closed") return;
    this.#abandonSocket();
    const { code, reason } = detail;
    // With getToken, a 4001 (the token expired unrefreshed, or was refused) is
    // retried with a fresh token; a second one before any join means the source
    // keeps giving tokens the server refuses, and retrying would loop forever.
    const retryUnauthorized = code === CLOSE_UNAUTHORIZED && this.#getToken !== null && ++this.#unauthorized < 2;
    if (NO_RETRY.has(code) && !retryUnauthorized) {
      this.#shutdown();
      this.#setState("disconnected", { code, reason });
      this.#emit("error", {
        type: "error",
        code: "closed",
        closeCode: code,
        reason,
        message: `the server closed the connection with ${code}${reason ? ` (${reason})` : ""}; not reconnecting`,
      });
      return;
    }
    if (code === CLOSE_RATE_LIMIT_ABUSE) this.#attempt = Math.max(this.#attempt, 3); // "after a longer backoff"
    const delayMs = this.#backoff.delay(this.#attempt, this.#random) * 1000;
    this.#attempt += 1;
    this.#phase = "waiting";
    this.#retryTimer = this.#timers.setTimeout(() => {
      if (this.#phase === "waiting") this.#open();
    }, delayMs);
    if (this.#everJoined) this.#setState("reconnecting", { code, reason });
  }

  /** Forget the current socket (its events are ignored from now on) and close it. */
  #abandonSocket() {
    this.#stopTicker();
    this.#cancelRefresh();
    const ws = this.#ws;
    this.#ws = null;
    if (ws !== null && (ws.readyState === OPEN || ws.readyState === CONNECTING)) {
      try {
        ws.close(NORMAL_CLOSURE);
      } catch {
        // closing a dead socket may throw in some implementations
      }
    }
  }

  #shutdown() {
    this.#phase = "closed";
    if (this.#retryTimer !== null) this.#timers.clear(this.#retryTimer);
    this.#retryTimer = null;
    this.#abandonSocket();
    this.#timers.dispose();
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
  }

  // -- token refresh ---------------------------------------------------------------

  /**
   * Refresh the token at four fifths of `expiresIn` seconds, with getToken; null:
   * none due. A static token cannot be refreshed: the server closes with 4001 at
   * its expiry, and the client stops.
   */
  #scheduleRefresh(expiresIn) {
    this.#cancelRefresh();
    if (this.#getToken === null || typeof expiresIn !== "number" || !Number.isFinite(expiresIn)) return;
    this.#expiresAt = Date.now() + expiresIn * 1000;
    this.#refreshIn(Math.max(MIN_REFRESH_MS, expiresIn * REFRESH_AT * 1000));
  }

  #refreshIn(ms) {
    this.#refreshTimer = this.#timers.setTimeout(() => {
      this.#refreshTimer = null;
      this.#refresh();
    }, ms);
  }

  #cancelRefresh() {
    if (this.#refreshTimer !== null) this.#timers.clear(this.#refreshTimer);
    this.#refreshTimer = null;
  }

  #refresh() {
    if (this.#phase !== "joined") return;
    const ws = this.#ws;
    const request = ++this.#tokenRequests;
    const current = () => this.#phase === "joined" && this.#ws === ws && request === this.#tokenRequests;
    this.#fetchToken().then(
      (token) => {
        // null: nothing new; the server closes at expiry and the reconnect asks again.
        if (!current() || token === null) return;
        this.#token = token; // a seq-gap rejoin on this socket carries it too
        this.#send({ type: "refresh", token });
      },
      (err) => {
        if (!current()) return;
        this.#emit("error", { type: "error", code: "token_unavailable", message: err.message });
        // Try again while the current token lasts. Past it the server closes with
        // 4001, and the reconnect asks getToken again.
        const left = this.#expiresAt - Date.now();
        if (left > 2 * MIN_REFRESH_MS && this.#phase === "joined" && this.#refreshTimer === null) {
          this.#refreshIn(left / 2);
        }
      },
    );
  }

  // -- heartbeat -------------------------------------------------------------------

  #startTicker(intervalMs, timeoutMs) {
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    const tickMs = Math.max(20, Math.min(1000, intervalMs / 4, timeoutMs / 4));
    if (this.#ticker !== null && tickMs === this.#tickMs) return;
    this.#stopTicker();
    this.#tickMs = tickMs;
    this.#ticker = this.#timers.setInterval(() => this.#tick(), tickMs);
  }

  #stopTicker() {
    if (this.#ticker !== null) this.#timers.clear(this.#ticker);
    this.#ticker = null;
  }

  #tick() {
    const now = Date.now();
    if (this.#phase === "token") {
      if (now - this.#openedAt > this.#openTimeoutMs) {
        this.#tokenUnavailable(`getToken did not answer within ${this.#openTimeoutMs} ms`);
      }
    } else if (this.#phase === "opening") {
      if (now - this.#openedAt > this.#openTimeoutMs) {
        this.#lost({ code: CLOSE_ABNORMAL, reason: `not joined within ${this.#openTimeoutMs} ms` });
      }
    } else if (this.#phase === "joined") {
      if (this.#checkSilence(now)) return;
      if (now - this.#lastPing >= this.#intervalMs) this.#ping(now);
    }
  }

  /** True (and reconnecting) if the server has been silent for longer than the timeout. */
  #checkSilence(now) {
    if (now - this.#lastHeard <= this.#timeoutMs) return false;
    this.#lost({ code: CLOSE_ABNORMAL, reason: `server silent for ${now - this.#lastHeard} ms` });
    return true;
  }

  #ping(now) {
    this.#lastPing = now;
    this.#pings += 1;
    this.#send({ type: "ping", t: this.#pings });
  }

  #listenToPage() {
    const win = globalThis.window;
    if (win && typeof win.addEventListener === "function") {
      // Back online: the waiting socket would only come back at the end of its backoff.
      const onOnline = () => this.reconnectNow();
      win.addEventListener("online", onOnline);
      this.#cleanups.push(() => win.removeEventListener("online", onOnline));
    }
    const doc = globalThis.document;
    if (doc && typeof doc.addEventListener === "function") {
      // A tab coming back may have had its timers throttled or frozen (or the
      // machine slept): check the connection now rather than at the next tick.
      const onVisibility = () => {
        if (doc.visibilityState !== "visible" || this.#phase !== "joined") return;
        const now = Date.now();
        if (!this.#checkSilence(now)) this.#ping(now);
      };
      doc.addEventListener("visibilitychange", onVisibility);
      this.#cleanups.push(() => doc.removeEventListener("visibilitychange", onVisibility));
    }
  }

  // -- plumbing ----------------------------------------------------------------------

  #send(message) {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(message));
      return true;
    } catch (err) {
      console.warn("livegate: send failed:", err);
      return false;
    }
  }

  #setState(state, detail) {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit("state", state, detail);
  }

  #emit(type, ...args) {
    const set = this.#handlers.get(type);
    if (set === undefined) return;
    for (const handler of [...set]) {
      try {
        handler(...args);
      } catch (err) {
        console.error(`livegate: a "${type}" handler threw:`, err);
      }
    }
  }
}

/**
 * Connect to the livegate server at `url` (ws://host:8080/ws, or "/ws" resolved
 * against the page in a browser) and follow `options.eventId` as `options.id`.
 * Throws TypeError at once for invalid options; everything later is reported
 * through the client's events.
 */
export function connect(url, options) {
  return new Client(url, options);
}
