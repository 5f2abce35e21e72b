// The event page: live scoreboard, commentary, reactions and viewer count for one event.
//
// Viewer tokens (docs/protocol.md 2.5): a `?token=` in the address is used as a
// static token (and taken out of the address bar at once); otherwise, when the
// server names a token endpoint (`tokenUrl` in GET /api), the SDK's getToken
// fetches a fresh token from it for every connection attempt and every refresh.
// Without either the page watches anonymously under a random id, unless the
// server requires a token: then it says so instead of reconnecting forever.
import { connect } from "/static/livegate.js";
import { api, clockTime, h, plural, setText, sportIcon, viewerId } from "./common.js";
import { decoderFor } from "./sports/index.js";
import * as generic from "./sports/generic.js";

const $ = (id) => document.getElementById(id);
const eventId = pathEventId();
const me = viewerId();
// First, before anything can copy the address: a token in it is a credential.
const urlToken = takeUrlToken();

const MAX_FEED = 150;
const MAX_SWARM_NODES = 40;
const MAX_PER_EMOJI = 8;
const MAX_TICKER = 6;

const STATE_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  disconnected: "Disconnected",
};
const STATUS_TEXT = { scheduled: "Scheduled", live: "Live", ended: "Ended" };

const SIGN_IN_TEXT = "This match needs you to sign in.";
const NOT_IN_PASS_TEXT = "Your pass does not include this match.";
const TOKEN_TEXT = {
  token_required: SIGN_IN_TEXT,
  token_expired: "Your pass has expired. Sign in again to keep watching.",
  bad_token: "Your pass was not accepted. Sign in again to watch this match.",
};

function pathEventId() {
  const raw = location.pathname.replace(/^\/events\//, "").replace(/\/+$/, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const view = {
  viewer: me, // the id the server knows this viewer by (a token's sub once joined with one)
  withToken: false, // this page joins with a token (from the address or the token endpoint)
  sport: null,
  title: "",
  meta: {},
  status: "scheduled",
  decoder: null,
  board: null,
  joinedOnce: false,
  totals: new Map(),
};
let client = null;

// -- header -------------------------------------------------------------------------

// The reaction bar's last emoji fits the sport (no cricket bat on a chess page).
const SPORT_EMOJI = {
  cricket: ["🏏", "Cricket bat"],
  chess: ["♟️", "Chess pawn"],
  football: ["⚽", "Football"],
};
const DEFAULT_EMOJI = ["🎉", "Celebrate"];

function setSportEmoji(sport) {
  const [emoji, label] = SPORT_EMOJI[sport] || DEFAULT_EMOJI;
  const button = $("sport-emoji");
  button.dataset.emoji = emoji;
  button.setAttribute("aria-label", label);
  setText(button, emoji);
  const option = $("sport-emoji-option");
  option.value = emoji;
  setText(option, emoji);
}

function setHeader({ sport, title, status }) {
  if (sport) {
    view.sport = sport;
    setText($("sport"), sport.charAt(0).toUpperCase() + sport.slice(1));
    setText($("sport-icon"), sportIcon(sport));
  }
  if (title) {
    view.title = title;
    setText($("title"), title);
    document.title = `${title} · livegate`;
  }
  if (status) setStatus(status);
  if (sport) setSportEmoji(sport);
}

function setStatus(status) {
  view.status = status;
  const badge = $("status");
  badge.dataset.status = status;
  setText(badge, STATUS_TEXT[status] || status);
  const ended = status === "ended";
  for (const control of document.querySelectorAll(".emoji-btn, #comment-form select, #comment-form input, #send")) {
    control.disabled = ended;
  }
  if (ended) setText($("react-status"), "The event has ended: reactions are closed.");
}

function setViewers(n) {
  if (typeof n === "number") setText($("viewers"), `${n} watching`);
}

function missingText() {
  return `No event called “${eventId}” yet. This page keeps trying and shows it when it starts.`;
}

function showNotice(text) {
  const notice = $("notice");
  notice.hidden = !text;
  setText(notice, text || "");
}

// -- scoreboard and feed --------------------------------------------------------------

function ctx() {
  return { title: view.title, meta: view.meta, sport: view.sport };
}

/** Show a payload: `reset` rebuilds the stream-derived state (after a join without resume),
 * from the server's match state when the sport keeps one (`joined.state`). */
function showPayload(data, reset, state) {
  const root = $("scoreboard");
  if (!data) {
    view.decoder = null;
    view.board = null;
    root.replaceChildren(h("p", { class: "empty", text: "Waiting for the first update…" }));
    return;
  }
  const decoder = decoderFor(view.sport, data);
  if (decoder !== view.decoder || !view.board) {
    view.decoder = decoder;
    root.dataset.sport = decoder.name;
    view.board = decoder.createBoard(root, ctx());
    view.board.reset(data, state);
  } else if (reset) {
    view.board.reset(data, state);
  } else {
    view.board.update(data);
  }
}

function describe(data) {
  const decoder = decoderFor(view.sport, data);
  const summary = safely(() => decoder.summary(data, ctx()), () => generic.summary(data));
  const comment = typeof data.comment === "string" && data.comment.trim() ? data.comment.trim() : "";
  return { primary: comment || summary, secondary: comment ? summary : "", decoder };
}

function safely(fn, fallback) {
  try {
    return fn();
  } catch (err) {
    console.warn("livegate: could not decode an update", err);
    return fallback();
  }
}

function addFeed({ primary, secondary = "", ts, kind = "score", seq }) {
  const feed = $("feed");
  const item = h(
    "li",
    { class: `feed-item ${kind}`, dataset: seq ? { seq: String(seq) } : {} },
    h("time", { class: "when", text: clockTime(ts) }),
    h("p", { class: "primary", text: primary }),
    secondary ? h("p", { class: "secondary", text: secondary }) : null,
  );
  feed.prepend(item);
  while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
}

function announce(text) {
  const region = $("announcer");
  // Clear first so the same words twice in a row are read twice.
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

// -- connection events ------------------------------------------------------------------

function onJoined(msg) {
  showNotice("");
  showViewer(msg.viewer);
  setHeader({ sport: msg.sport, title: msg.title, status: msg.status });
  setViewers(msg.viewers);
  const first = !view.joinedOnce;
  view.joinedOnce = true;
  if (msg.recovered === true) return; // the missed scores follow as "score" events
  safely(() => showPayload(msg.snapshot, true, msg.state), () => showGeneric(msg.snapshot));
  if (!first) addFeed({ primary: "Back online: showing the latest state.", kind: "system" });
  if (msg.snapshot) {
    const { primary, secondary } = describe(msg.snapshot);
    addFeed({ primary, secondary, kind: "score snapshot", seq: msg.seq });
  }
}

function showGeneric(data) {
  view.decoder = generic;
  view.board = generic.createBoard($("scoreboard"), ctx());
  view.board.reset(data);
}

function onScore(msg) {
  if (view.status !== "ended") setStatus("live");
  safely(() => showPayload(msg.data, false), () => showGeneric(msg.data));
  const { primary, secondary, decoder } = describe(msg.data);
  addFeed({ primary, secondary, ts: msg.ts, seq: msg.seq });
  announce(safely(() => (decoder.announce || decoder.summary)(msg.data, ctx()), () => primary));
}

function onReactions(msg) {
  const counts = msg.counts && typeof msg.counts === "object" ? msg.counts : {};
  for (const [emoji, n] of Object.entries(counts)) {
    if (typeof n === "number" && n > 0) view.totals.set(emoji, (view.totals.get(emoji) || 0) + n);
  }
  renderTotals();
  swarm(counts);
  const ticker = $("ticker");
  for (const c of Array.isArray(msg.comments) ? msg.comments : []) {
    if (!c || typeof c.comment !== "string") continue;
    ticker.prepend(
      h(
        "li",
        { class: c.verified === true ? "tick verified" : "tick" },
        h("span", { class: "tick-emoji", "aria-hidden": "true", text: c.emoji === "other" ? "✨" : c.emoji }),
        commentAuthor(c),
        h("span", { class: "tick-text", text: c.comment }),
      ),
    );
  }
  while (ticker.children.length > MAX_TICKER) ticker.lastElementChild.remove();
}

/**
 * Who wrote a comment: a verified viewer (joined with a token) by the token's name
 * (or id) with a ✓ mark; an anonymous one by the id it chose, plain. Text nodes
 * only: names and ids are the viewers' own words.
 */
function commentAuthor(c) {
  const verified = c.verified === true;
  const own = c.id === view.viewer;
  const name = verified && typeof c.name === "string" && c.name ? c.name : String(c.id || "fan");
  const who = h("span", { class: "tick-who" }, own ? "you" : clip(name, verified ? 24 : 16));
  if (verified) who.append(verifiedMark());
  return who;
}

function verifiedMark() {
  return h("span", { class: "verified-mark", role: "img", title: "verified viewer", "aria-label": "verified viewer", text: "✓" });
}

/** At most `n` characters (code points, so an emoji is never cut in half). */
function clip(text, n) {
  const chars = [...text];
  return chars.length > n ? `${chars.slice(0, n - 1).join("")}…` : text;
}

function renderTotals() {
  const top = [...view.totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  const el = $("reaction-totals");
  if (!top.length) return;
  el.replaceChildren(
    ...top.map(([emoji, n]) =>
      h("span", { class: "total", dataset: { emoji } }, h("span", { class: "total-emoji", text: emoji === "other" ? "✨" : emoji }), ` ${n}`),
    ),
  );
}

/** Float emoji up the page, sized by their counts; never more than MAX_SWARM_NODES at once. */
function swarm(counts) {
  const layer = $("swarm");
  const entries = Object.entries(counts).filter(([, n]) => typeof n === "number" && n > 0);
  const biggest = Math.max(1, ...entries.map(([, n]) => n));
  for (const [emoji, n] of entries) {
    const nodes = Math.min(MAX_PER_EMOJI, Math.ceil(Math.sqrt(n)) + (n > 1 ? 1 : 0));
    // Size grows with the count (log scale) relative to this window's biggest.
    const size = 1.4 + 2.2 * (Math.log2(1 + n) / Math.log2(1 + Math.max(biggest, 8)));
    for (let i = 0; i < nodes; i++) {
      if (layer.childElementCount >= MAX_SWARM_NODES) return;
      const node = h("span", { class: "float", text: emoji === "other" ? "✨" : emoji });
      node.style.setProperty("--x", `${Math.round(Math.random() * 88 + 4)}%`);
      node.style.setProperty("--drift", `${Math.round(Math.random() * 80 - 40)}px`);
      node.style.setProperty("--size", `${size.toFixed(2)}rem`);
      node.style.setProperty("--dur", `${(2.4 + Math.random() * 1.6).toFixed(2)}s`);
      node.style.setProperty("--delay", `${(i * 0.12).toFixed(2)}s`);
      node.addEventListener("animationend", () => node.remove());
      setTimeout(() => node.remove(), 6000); // reduced motion: no animation, no animationend
      layer.append(node);
    }
  }
}

function onEnded(msg) {
  setStatus("ended");
  const result = msg && typeof msg.result === "string" ? msg.result : "";
  showResult(result);
  const text = result ? `The event has ended: ${result}.` : "The event has ended.";
  addFeed({ primary: text, kind: "system" });
  announce(text);
}

function showResult(text) {
  const result = $("result");
  result.hidden = !text;
  setText(result, text ? `Result: ${text}` : "");
}

function onError(msg) {
  switch (msg && msg.code) {
    case "unknown_event":
      showNotice(missingText());
      break;
    case "forbidden":
      // The SDK stops: the same join would be refused forever.
      showNotice(view.withToken ? NOT_IN_PASS_TEXT : SIGN_IN_TEXT);
      break;
    case "token_required":
    case "token_expired":
    case "bad_token":
      // A 4001 close follows: the SDK stops, or (with the token endpoint) tries a
      // fresh token once; a join that works clears the notice.
      showNotice(TOKEN_TEXT[msg.code]);
      break;
    case "token_unavailable":
      showNotice("Could not get your pass from the sign-in service. Trying again…");
      break;
    case "closed":
      // The SDK stopped (4001 or 1008). A 4001 came after its reason, shown above.
      if (msg.closeCode === 4001 && $("notice").hidden) showNotice(TOKEN_TEXT.bad_token);
      console.warn("livegate:", msg.message);
      break;
    case "rate_limited":
      setText($("react-status"), "Too fast: wait a moment before reacting again.");
      break;
    case "event_ended":
      setStatus("ended");
      break;
    default:
      if (msg && msg.message) console.warn("livegate:", msg.code, msg.message);
  }
}

function onState(state, detail) {
  const conn = $("conn");
  conn.dataset.state = state;
  let text = STATE_TEXT[state] || state;
  if (state === "disconnected" && detail && detail.code === 1008) text = "Disconnected (refused)";
  if (state === "disconnected" && detail && (detail.code === 4001 || detail.reason === "join refused: forbidden")) {
    text = "Disconnected (no access)";
  }
  setText($("conn-text"), text);
  $("retry").hidden = state !== "disconnected";
}

// -- reactions out ------------------------------------------------------------------------

function react(emoji, comment) {
  const status = $("react-status");
  if (!client) return false;
  const sent = client.react(emoji, comment || undefined);
  if (sent) setText(status, comment ? "Comment sent." : "");
  else if (client.state !== "connected") setText(status, "Not connected: try again in a moment.");
  else setText(status, "Too fast: wait a moment before reacting again.");
  return sent;
}

function wireReactions() {
  for (const button of document.querySelectorAll(".emoji-btn")) {
    button.addEventListener("click", () => {
      if (react(button.dataset.emoji)) {
        button.classList.remove("pop");
        void button.offsetWidth; // restart the animation
        button.classList.add("pop");
      }
    });
  }
  $("comment-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("comment");
    const text = input.value.trim();
    if ([...text].length > 280) {
      setText($("react-status"), "A comment is at most 280 characters.");
      return;
    }
    if (react($("comment-emoji").value, text)) input.value = "";
  });
}

// -- viewer tokens ------------------------------------------------------------------------------

/** The address's ?token=, removed from the address bar so it does not leak through
 * copy and paste, bookmarks or the history. */
function takeUrlToken() {
  const url = new URL(location.href);
  if (!url.searchParams.has("token")) return null;
  const token = url.searchParams.get("token");
  url.searchParams.delete("token");
  history.replaceState(history.state, "", `${url.pathname}${url.search}${url.hash}`);
  return token || null;
}

/** What the server says about viewer tokens (GET /api); {} when it cannot be read. */
async function serverAuth() {
  try {
    const info = await api("/api");
    return info && typeof info === "object" ? info : {};
  } catch (err) {
    console.warn("livegate: cannot read /api", err);
    return {};
  }
}

/**
 * A token from the product's token endpoint, with the viewer's cookies; null when
 * it has none for this viewer (signed out: 401, 403, 404, 204 or {"token": null}).
 * Throws on any other failure, which the SDK retries.
 */
async function fetchToken(url) {
  const response = await fetch(url, {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  });
  if ([204, 401, 403, 404].includes(response.status)) return null;
  if (!response.ok) throw new Error(`the token endpoint answered HTTP ${response.status}`);
  const body = await response.json();
  const token = body && typeof body === "object" ? body.token : undefined;
  if (token === null || token === "") return null;
  if (typeof token !== "string") throw new Error('the token endpoint did not answer {"token": "..."}');
  return token;
}

/**
 * The SDK's viewer options: {token}, {getToken} or {id} (anonymous); null when the
 * server requires a token and this page has no way to get one.
 */
async function viewerOptions() {
  const info = await serverAuth();
  if (info.viewerAuth === "off") return { id: me }; // the server reads no tokens
  if (urlToken) return { token: urlToken };
  const tokenUrl = typeof info.tokenUrl === "string" && info.tokenUrl ? info.tokenUrl : null;
  if (tokenUrl) {
    // Ask once now: a viewer the endpoint gives no token watches anonymously (a
    // token's sub would differ from the random id, so it is one or the other).
    let first = null;
    try {
      first = await fetchToken(tokenUrl);
    } catch (err) {
      console.warn("livegate: no viewer token", err);
    }
    if (first !== null) {
      return {
        getToken: () => {
          // The first attempt uses the token just fetched; every later one (each
          // reconnect, each refresh) asks the endpoint again.
          const token = first;
          first = null;
          return token !== null ? token : fetchToken(tokenUrl);
        },
      };
    }
  }
  return info.viewerAuth === "required" ? null : { id: me };
}

function showViewer(viewer) {
  const line = $("viewer-line");
  if (!viewer || typeof viewer !== "object" || typeof viewer.id !== "string") {
    line.hidden = true;
    return;
  }
  view.viewer = viewer.id;
  const name = typeof viewer.name === "string" && viewer.name ? viewer.name : viewer.id;
  line.replaceChildren("Signed in as ", h("strong", { class: "viewer-name", text: name }), " ", verifiedMark());
  line.hidden = false;
}

// -- start ------------------------------------------------------------------------------------

let starts = 0;

async function start() {
  const attempt = ++starts;
  onState("connecting");
  const auth = await viewerOptions();
  if (attempt !== starts) return; // Retry was pressed meanwhile
  if (auth === null) {
    // Not an endless "reconnecting": without a token the server closes every join.
    showNotice(SIGN_IN_TEXT);
    onState("disconnected", { code: 4001, reason: "token required" });
    return;
  }
  view.withToken = !("id" in auth);
  view.viewer = auth.id ?? null; // known from joined.viewer once joined with a token
  try {
    client = connect("/ws", { eventId, ...auth });
  } catch (err) {
    // connect() checks its options: an event id the protocol cannot carry, or a
    // token (from the address) that is not one.
    showNotice(/token/.test(err.message) ? "The pass in this link is not valid." : `“${eventId}” is not a valid event id.`);
    onState("disconnected");
    $("retry").hidden = true;
    console.warn(err);
    return;
  }
  client.on("joined", onJoined);
  client.on("score", onScore);
  client.on("reactions", onReactions);
  client.on("viewers", (msg) => setViewers(msg.count));
  client.on("ended", onEnded);
  client.on("error", onError);
  client.on("state", onState);
  onState(client.state || "connecting");
}

async function loadEvent() {
  // The event's meta (e.g. an overs limit) is only in the HTTP API; the title shows early.
  try {
    const info = await api(`/api/events/${encodeURIComponent(eventId)}`);
    view.meta = info.meta || {};
    if (!view.joinedOnce) setHeader({ sport: info.sport, title: info.title, status: info.status });
    if (!view.joinedOnce) setViewers(info.viewers);
    if (info.status === "ended" && info.result) showResult(info.result);
  } catch (err) {
    if (err.status === 404 && !view.joinedOnce) {
      showNotice(missingText());
      setText($("title"), eventId);
    }
  }
}

wireReactions();
$("retry").addEventListener("click", () => {
  if (client) client.close();
  client = null;
  view.joinedOnce = false;
  showNotice("");
  start();
});
if (!eventId) {
  showNotice("No event id in the address.");
} else {
  loadEvent();
  start();
}
