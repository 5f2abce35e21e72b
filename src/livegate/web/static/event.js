// The event page: live scoreboard, commentary, reactions and viewer count for one event.
import { connect } from "/static/livegate.js";
import { api, clockTime, h, plural, setText, sportIcon, viewerId } from "./common.js";
import { decoderFor } from "./sports/index.js";
import * as generic from "./sports/generic.js";

const $ = (id) => document.getElementById(id);
const eventId = pathEventId();
const me = viewerId();

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

function pathEventId() {
  const raw = location.pathname.replace(/^\/events\//, "").replace(/\/+$/, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const view = {
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
    const who = c.id === me ? "you" : String(c.id || "fan").slice(0, 16);
    ticker.prepend(
      h(
        "li",
        { class: "tick" },
        h("span", { class: "tick-emoji", "aria-hidden": "true", text: c.emoji === "other" ? "✨" : c.emoji }),
        h("span", { class: "tick-who", text: who }),
        h("span", { class: "tick-text", text: c.comment }),
      ),
    );
  }
  while (ticker.children.length > MAX_TICKER) ticker.lastElementChild.remove();
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

// -- start ------------------------------------------------------------------------------------

function start() {
  try {
    client = connect("/ws", { id: me, eventId });
  } catch (err) {
    // connect() checks its options: an event id the protocol cannot carry.
    showNotice(`“${eventId}” is not a valid event id.`);
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
  view.joinedOnce = false;
  start();
});
if (!eventId) {
  showNotice("No event id in the address.");
} else {
  loadEvent();
  start();
}
