// The scorer console: publish updates by hand through the HTTP API.
// Forms build payloads of the shapes in docs/sports.md and compute nothing clever:
// the API validates, and its 422 field errors are shown next to the fields.
// The moderation panel watches the event's comments as a viewer and mutes through
// the mutes API (docs/protocol.md sections 3.3 and 12.7).
import { api, clockTime, h, randomHex, replace, setText } from "./common.js";
import { connect } from "./livegate.js";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "livegate.apiKey";

// -- form definitions -------------------------------------------------------------------

/** A field: `path` in the payload (dots for nesting), a label, and a kind. */
const field = (path, label, opts = {}) => ({ path, label, type: "text", ...opts });
const int = (path, label, opts = {}) => field(path, label, { type: "int", ...opts });
const select = (path, label, options, opts = {}) => field(path, label, { type: "select", options, ...opts });

const WICKET_KINDS = [
  "bowled", "caught", "caught and bowled", "lbw", "run out", "stumped", "hit wicket",
  "retired hurt", "retired not out", "retired out", "obstructing the field",
  "handled the ball", "hit the ball twice", "timed out",
];

const CRICKET = [
  {
    legend: "Ball",
    fields: [
      int("$ball", "Ball number in the innings", { hint: "every delivery counts, wides too" }),
      int("$runs", "Score: runs"),
      int("$wickets", "Score: wickets"),
      field("overs", "Innings overs (O.B)", { hint: "e.g. 4.3", optional: true }),
      field("comment", "Commentary", { wide: true, optional: true }),
    ],
  },
  {
    legend: "Striker",
    fields: [
      field("batsman.name", "Name"),
      int("batsman.runs", "Runs"),
      int("batsman.balls", "Balls"),
      int("batsman.fours", "4s", { optional: true }),
      int("batsman.sixes", "6s", { optional: true }),
    ],
  },
  {
    legend: "Non-striker (optional)",
    fields: [
      field("nonStriker.name", "Name", { optional: true }),
      int("nonStriker.runs", "Runs", { optional: true }),
      int("nonStriker.balls", "Balls", { optional: true }),
      int("nonStriker.fours", "4s", { optional: true }),
      int("nonStriker.sixes", "6s", { optional: true }),
    ],
  },
  {
    legend: "Bowler",
    fields: [
      field("bowler.name", "Name"),
      field("bowler.overs", "Overs (O.B)"),
      int("bowler.runs", "Runs"),
      int("bowler.maiden", "Maidens"),
      int("bowler.wickets", "Wickets"),
    ],
  },
  {
    legend: "This ball (optional)",
    fields: [
      int("event.runs", "Total runs", { optional: true }),
      int("event.batterRuns", "Batter runs", { optional: true }),
      int("event.extras", "Extras", { optional: true }),
      select("event.extraKind", "Extra kind", ["", "wide", "noball", "bye", "legbye", "penalty"], { optional: true }),
      select("event.boundary", "Boundary", ["", "4", "6"], { optional: true, int: true }),
      select("event.wicket.kind", "Wicket", ["", ...WICKET_KINDS], { optional: true }),
      field("event.wicket.playerOut", "Player out", { optional: true }),
      field("event.wicket.fielders", "Fielders", { optional: true, list: true, hint: "comma separated" }),
    ],
  },
  {
    legend: "Innings (optional)",
    fields: [
      int("innings", "Innings", { optional: true }),
      field("battingTeam", "Batting team", { optional: true }),
      field("bowlingTeam", "Bowling team", { optional: true }),
      int("target", "Target", { optional: true }),
      field("superOver", "Super over", { type: "check", optional: true }),
    ],
  },
  {
    legend: "Innings extras (optional)",
    fields: [
      int("extras.wides", "Wides", { optional: true }),
      int("extras.noballs", "No-balls", { optional: true }),
      int("extras.byes", "Byes", { optional: true }),
      int("extras.legbyes", "Leg byes", { optional: true }),
      int("extras.penalty", "Penalty", { optional: true }),
    ],
  },
];

const CHESS = [
  {
    legend: "Move",
    fields: [
      int("ply", "Ply", { hint: "1 for the first move" }),
      field("uci", "UCI move", { hint: "e.g. e2e4", optional: true }),
      field("san", "SAN move", { hint: "e.g. e4", optional: true }),
      field("fen", "FEN after the move", { wide: true }),
      field("startFen", "Start FEN (first update only)", { wide: true, optional: true }),
      select("result", "Result", ["", "1-0", "0-1", "1/2-1/2"], { optional: true }),
      field("comment", "Comment", { wide: true, optional: true }),
    ],
  },
  {
    legend: "Players and clocks (optional)",
    fields: [
      field("white", "White", { optional: true }),
      field("black", "Black", { optional: true }),
      int("clocks.white", "White clock (ms)", { optional: true }),
      int("clocks.black", "Black clock (ms)", { optional: true }),
    ],
  },
];

const FOOTBALL_KINDS = [
  "goal", "own_goal", "penalty", "yellow_card", "red_card", "foul", "substitution", "var",
  "kick_off", "half_time", "full_time",
];
const PERIODS = ["", "first_half", "second_half", "extra_time_first_half", "extra_time_second_half", "penalty_shootout"];
/** The optional per-kind fields each kind uses (others are disabled, so not sent). */
const KIND_FIELDS = {
  goal: ["team", "player", "assist"],
  own_goal: ["team", "player"],
  penalty: ["team", "player", "outcome"],
  yellow_card: ["team", "player"],
  red_card: ["team", "player"],
  foul: ["team", "player"],
  substitution: ["team", "playerIn", "playerOut"],
  var: ["team", "player", "decision"],
  kick_off: [],
  half_time: [],
  full_time: [],
};
const KIND_DEPENDENT = ["team", "player", "assist", "playerIn", "playerOut", "outcome", "decision"];

const FOOTBALL = [
  {
    legend: "Incident",
    fields: [
      select("kind", "Kind", FOOTBALL_KINDS),
      int("minute", "Minute"),
      int("addedTime", "Added time", { optional: true }),
      select("period", "Period", PERIODS, { optional: true }),
      select("team", "Team", ["", "home", "away"], { optional: true }),
      field("player", "Player", { optional: true }),
      field("assist", "Assist", { optional: true }),
      field("playerIn", "Player in", { optional: true }),
      field("playerOut", "Player out", { optional: true }),
      select("outcome", "Penalty outcome", ["", "scored", "missed", "saved"], { optional: true }),
      field("decision", "VAR decision", { optional: true }),
      field("comment", "Comment", { wide: true, optional: true }),
    ],
  },
  {
    legend: "Score after the incident",
    fields: [
      int("score.home", "Home"),
      int("score.away", "Away"),
      int("shootout.home", "Shootout home", { optional: true }),
      int("shootout.away", "Shootout away", { optional: true }),
      field("teams.home", "Home team", { optional: true }),
      field("teams.away", "Away team", { optional: true }),
    ],
  },
];

const FORMS = { cricket: CRICKET, chess: CHESS, football: FOOTBALL };

// -- state ----------------------------------------------------------------------------------

const state = { key: "", event: null };

function loadKey() {
  try {
    state.key = sessionStorage.getItem(KEY_STORE) || "";
  } catch {
    state.key = "";
  }
  $("api-key").value = state.key;
  setText($("key-status"), state.key ? "A key is set for this tab." : "Enter the gateway's API key to publish.");
}

function saveKey(key) {
  state.key = key;
  try {
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
  } catch {
    // Storage blocked: the key lives in memory for this page.
  }
}

// -- errors ------------------------------------------------------------------------------------

function clearErrors() {
  const box = $("errors");
  box.hidden = true;
  box.replaceChildren();
  for (const el of document.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const note = document.getElementById(`${el.id}-error`);
    if (note) note.remove();
    el.setAttribute("aria-describedby", el.dataset.describedby || "");
    if (!el.dataset.describedby) el.removeAttribute("aria-describedby");
  }
}

/** The form control an API error path belongs to, if the current form has one. */
function controlFor(path) {
  const clean = path.replace(/\[\d+\]/g, "");
  const controls = [...document.querySelectorAll("#sport-fields [data-path]")];
  if (/^ball\b/.test(clean)) return controls.find((c) => c.dataset.path === "$ball") || null;
  return (
    controls.find((c) => c.dataset.path === clean) ||
    controls.find((c) => c.dataset.path.startsWith(`${clean}.`)) ||
    null
  );
}

function showError(err, { fromForm }) {
  clearErrors();
  const box = $("errors");
  const title = err.status === 422 ? "The API refused the update" : "Not published";
  let message = err.message;
  if (err.status === 401) message = "The API key was refused. Check the key above.";
  const items = (err.fields || []).map((f) => {
    const control = fromForm ? controlFor(f.path) : null;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      const note = h("span", { class: "field-error", id: `${control.id}-error`, text: f.reason });
      control.closest(".field").append(note);
      control.setAttribute("aria-describedby", `${control.dataset.describedby || ""} ${note.id}`.trim());
    }
    const pathEl = control
      ? h("a", { href: `#${control.id}`, class: "err-path", text: f.path })
      : h("code", { class: "err-path", text: f.path });
    return h("li", { class: "field-error-item", dataset: { path: f.path } }, pathEl, ": ", f.reason);
  });
  replace(
    box,
    h("p", { class: "err-title" }, h("strong", { text: title }), ` (${err.status || "network"} ${err.code})`),
    // A 422's message repeats its fields; the list says it better.
    items.length ? null : h("p", { class: "err-message", text: message }),
    items.length ? h("ul", { class: "field-errors", id: "field-errors" }, items) : null,
  );
  box.hidden = false;
  box.focus();
}

// -- forms ---------------------------------------------------------------------------------------

function control(spec, index) {
  const id = `f-${index}-${spec.path.replace(/[^A-Za-z0-9]+/g, "-")}`;
  const hintId = spec.hint ? `${id}-hint` : null;
  let el;
  if (spec.type === "select") {
    el = h(
      "select",
      { id },
      spec.options.map((o) => h("option", { value: o, text: o === "" ? "—" : o.replace(/_/g, " ") })),
    );
  } else if (spec.type === "check") {
    el = h("input", { id, type: "checkbox" });
  } else {
    el = h("input", {
      id,
      type: "text",
      inputmode: spec.type === "int" ? "numeric" : null,
      spellcheck: "false",
    });
  }
  el.dataset.path = spec.path;
  el.dataset.type = spec.int ? "int" : spec.type;
  if (spec.list) el.dataset.list = "1";
  if (hintId) {
    el.setAttribute("aria-describedby", hintId);
    el.dataset.describedby = hintId;
  }
  const label = h("label", { for: id, text: spec.label });
  return h(
    "div",
    { class: `field${spec.wide ? " wide" : ""}${spec.type === "check" ? " check" : ""}` },
    spec.type === "check" ? [el, label] : [label, el],
    hintId ? h("span", { class: "hint", id: hintId, text: spec.hint }) : null,
  );
}

function buildForm(sport) {
  const groups = FORMS[sport];
  const form = $("sport-form");
  const root = $("sport-fields");
  clearErrors();
  if (!groups) {
    form.hidden = true;
    setText($("publish-hint"), `${sport} has no form: write the update in the JSON box.`);
    return;
  }
  let n = 0;
  replace(
    root,
    groups.map((g) =>
      h("fieldset", { class: "group" }, h("legend", { text: g.legend }), h("div", { class: "fields" }, g.fields.map((f) => control(f, n++)))),
    ),
  );
  form.hidden = false;
  form.dataset.sport = sport;
  setText($("publish-hint"), `Fill in the ${sport} update; empty optional fields are left out.`);
  if (sport === "football") {
    const kind = root.querySelector('[data-path="kind"]');
    const period = root.querySelector('[data-path="period"]');
    kind.addEventListener("change", footballKindChanged);
    period.addEventListener("change", footballKindChanged);
  }
  prefill();
}

function footballKindChanged() {
  const root = $("sport-fields");
  const kind = root.querySelector('[data-path="kind"]').value;
  const allowed = new Set(KIND_FIELDS[kind] || KIND_DEPENDENT);
  for (const path of KIND_DEPENDENT) {
    const el = root.querySelector(`[data-path="${path}"]`);
    if (el) el.disabled = !allowed.has(path);
  }
  const shootout = root.querySelector('[data-path="period"]').value === "penalty_shootout";
  for (const path of ["shootout.home", "shootout.away"]) {
    root.querySelector(`[data-path="${path}"]`).disabled = !shootout;
  }
}

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
    node = node[part];
  }
  node[parts[parts.length - 1]] = value;
}

function getPath(source, path) {
  return path.split(".").reduce((node, part) => (node && typeof node === "object" ? node[part] : undefined), source);
}

function readValue(el) {
  if (el.dataset.type === "check") return el.checked ? true : undefined;
  const raw = el.value.trim();
  if (raw === "") return undefined;
  if (el.dataset.list) return raw.split(",").map((s) => s.trim()).filter(Boolean);
  // Whole numbers go as JSON integers; anything else as typed, for the API to judge.
  if (el.dataset.type === "int" && /^-?\d+$/.test(raw)) return Number(raw);
  return raw;
}

/** The payload the form describes; empty and disabled fields are left out. */
function formPayload() {
  const payload = {};
  const special = {};
  for (const el of document.querySelectorAll("#sport-fields [data-path]")) {
    if (el.disabled) continue;
    const value = readValue(el);
    if (value === undefined) continue;
    if (el.dataset.path.startsWith("$")) special[el.dataset.path] = value;
    else setPath(payload, el.dataset.path, value);
  }
  if ($("sport-form").dataset.sport === "cricket") {
    // The score travels as {"ball N": "runs/wickets"}, first, as in the spec.
    const ball = special.$ball ?? "N";
    const score = `${special.$runs ?? 0}/${special.$wickets ?? 0}`;
    return { [`ball ${ball}`]: score, ...payload };
  }
  return payload;
}

function fill(path, value) {
  const el = document.querySelector(`#sport-fields [data-path="${path}"]`);
  if (!el) return;
  if (el.dataset.type === "check") el.checked = value === true;
  else if (Array.isArray(value)) el.value = value.join(", ");
  else el.value = value === undefined || value === null ? "" : String(value);
}

/** Fill the form from the latest update, ready for the next one (next ball, next ply). */
function prefill() {
  const sport = $("sport-form").dataset.sport;
  const snap = (state.event && state.event.snapshot) || null;
  for (const el of document.querySelectorAll("#sport-fields [data-path]")) {
    if (el.tagName === "SELECT") el.selectedIndex = 0;
    else if (el.type === "checkbox") el.checked = false;
    else el.value = "";
  }
  if (sport === "cricket") {
    let ball = 0;
    let score = "0/0";
    if (snap) {
      for (const [k, v] of Object.entries(snap)) {
        const m = /^ball (\d+)$/.exec(k);
        if (m) [ball, score] = [Number(m[1]), String(v)];
      }
      for (const group of CRICKET) {
        for (const f of group.fields) {
          if (!f.path.startsWith("$") && !f.path.startsWith("event.") && f.path !== "comment") {
            fill(f.path, getPath(snap, f.path));
          }
        }
      }
    }
    const [runs, wickets] = score.split("/");
    fill("$ball", ball + 1);
    fill("$runs", runs);
    fill("$wickets", wickets);
  } else if (sport === "chess") {
    fill("ply", snap && Number.isInteger(snap.ply) ? snap.ply + 1 : 1);
    if (snap) for (const path of ["white", "black", "clocks.white", "clocks.black"]) fill(path, getPath(snap, path));
  } else if (sport === "football") {
    fill("kind", "kick_off");
    fill("minute", snap ? snap.minute : 0);
    fill("score.home", snap ? getPath(snap, "score.home") : 0);
    fill("score.away", snap ? getPath(snap, "score.away") : 0);
    if (snap) {
      for (const path of ["period", "shootout.home", "shootout.away", "teams.home", "teams.away"]) {
        fill(path, getPath(snap, path));
      }
      fill("kind", snap.kind === "half_time" ? "kick_off" : "goal");
    } else {
      fill("period", "first_half");
    }
    footballKindChanged();
  }
}

// -- events -------------------------------------------------------------------------------------

async function refreshEvents(selectId) {
  const sel = $("event-select");
  try {
    const body = await api("/api/events");
    const events = body.events || [];
    const wanted = selectId ?? sel.value;
    replace(
      sel,
      h("option", { value: "", text: events.length ? "— choose —" : "No events yet: create one" }),
      events.map((e) =>
        h("option", { value: e.eventId, text: `${e.title} (${e.sport}, ${e.status}) · ${e.eventId}` }),
      ),
    );
    if (wanted && events.some((e) => e.eventId === wanted)) sel.value = wanted;
  } catch (err) {
    setText($("event-status"), `Cannot list events: ${err.message}`);
  }
}

async function selectEvent(id) {
  clearErrors();
  setText($("publish-status"), "");
  if (!id) {
    state.event = null;
    moderationFor(null);
    $("event-info").hidden = true;
    $("sport-form").hidden = true;
    setText($("publish-hint"), "Pick or create an event first.");
    return;
  }
  try {
    const event = await api(`/api/events/${encodeURIComponent(id)}`);
    const changedSport = !state.event || state.event.sport !== event.sport || state.event.eventId !== id;
    state.event = event;
    showEventInfo();
    if (changedSport) buildForm(event.sport);
    moderationFor(event.eventId);
    const url = new URL(location.href);
    url.searchParams.set("event", id);
    history.replaceState(null, "", url);
  } catch (err) {
    setText($("event-status"), `Cannot load ${id}: ${err.message}`);
  }
}

function showEventInfo() {
  const e = state.event;
  $("event-info").hidden = false;
  $("event-link").href = `/events/${encodeURIComponent(e.eventId)}`;
  setText($("event-link"), `Open “${e.title}” as a viewer`);
  setText($("info-sport"), e.sport);
  setText($("info-status"), e.status);
  setText($("info-seq"), String(e.seq));
  setText($("info-viewers"), String(e.viewers));
  setText($("info-snapshot"), e.snapshot ? JSON.stringify(e.snapshot, null, 2) : "(none yet)");
  $("end-event").disabled = e.status === "ended";
}

async function reloadEvent() {
  if (!state.event) return;
  try {
    state.event = await api(`/api/events/${encodeURIComponent(state.event.eventId)}`);
    showEventInfo();
  } catch {
    // The info panel is a convenience; the next action reports real errors.
  }
}

function requireKey() {
  if (state.key) return true;
  showError({ status: 0, code: "no_key", message: "Enter the API key first.", fields: [] }, { fromForm: false });
  $("api-key").focus();
  return false;
}

async function publish(payload, { fromForm }) {
  clearErrors();
  setText($("publish-status"), "");
  if (!state.event) {
    showError({ status: 0, code: "no_event", message: "Pick or create an event first.", fields: [] }, { fromForm });
    return;
  }
  if (!requireKey()) return;
  try {
    const result = await api(`/api/events/${encodeURIComponent(state.event.eventId)}/updates`, {
      method: "POST",
      body: payload,
      key: state.key,
      headers: { "Idempotency-Key": `console-${randomHex(12)}` },
    });
    setText($("publish-status"), `Published: update ${result.seq}.`);
    await reloadEvent();
    if (fromForm) prefill();
  } catch (err) {
    showError(err, { fromForm });
  }
}

// -- moderation ------------------------------------------------------------------------------

const MAX_COMMENTS = 50;
const MUTES_EVERY_MS = 10_000;
const LENGTHS = { 600: "10 min", 3600: "1 h", 86400: "24 h" };

/**
 * The panel follows one event while it is open: a viewer connection (the SDK) for its
 * comments, and the mutes list from the API, polled. `ticket` drops answers that
 * arrive after the event or the key changed.
 */
const mod = {
  id: `scorer-console-${randomHex(6)}`,
  eventId: null,
  client: null,
  poll: null,
  tick: null,
  ticket: 0,
  muted: new Map(), // viewer id -> until (ms, the server's clock)
  skew: 0, // the server's clock less this one's (ms), from the list's `now`
  keyRefused: false, // 401/403 on the last request: wait for a new key or event
  errorFrom: null, // "list" or "action": which request the shown error belongs to
  n: 0,
};

const isOpen = () => $("mod-details").open && mod.eventId !== null;
const mutesPath = (viewer) =>
  `/api/events/${encodeURIComponent(mod.eventId)}/mutes${viewer === undefined ? "" : `/${encodeURIComponent(viewer)}`}`;

/** The selected event changed (null: none). */
function moderationFor(eventId) {
  if (eventId === mod.eventId) return;
  stopModeration();
  mod.eventId = eventId;
  mod.keyRefused = false;
  mod.muted = new Map();
  $("moderation").hidden = eventId === null;
  $("mod-comments").replaceChildren();
  $("mod-mutes").replaceChildren();
  $("mod-comments-empty").hidden = false;
  clearModError();
  setText($("mod-status"), "");
  if (isOpen()) startModeration();
}

function startModeration() {
  if (!isOpen() || mod.client) return;
  setConn("connecting", "Connecting to the event's comments…");
  try {
    mod.client = connect("/ws", { id: mod.id, eventId: mod.eventId });
  } catch (err) {
    setConn("disconnected", `Cannot watch comments: ${err.message}`);
    return;
  }
  const client = mod.client;
  client.on("state", (s) => {
    if (client !== mod.client) return;
    if (s === "connected") setConn(s, `Watching comments live as ${mod.id} (counted as one viewer).`);
    else if (s === "reconnecting") setConn(s, "Connection lost; reconnecting…");
    else if (s === "disconnected") setConn(s, "Not watching comments: the connection was closed.");
  });
  client.on("error", (e) => {
    if (client !== mod.client) return;
    if (e.code === "forbidden") {
      // A private event: joining it needs a viewer token, which the console has not.
      client.close();
      setConn("disconnected", "Cannot watch this event's comments: it is private (viewers need a token). The muted viewers below can still be unmuted.");
    } else if (e.code === "unknown_event") {
      setConn("connecting", "The event does not exist (any more); retrying…");
    } else if (e.code === "closed") {
      setConn("disconnected", `Not watching comments: ${e.message}`);
    }
  });
  client.on("reactions", (msg) => {
    if (client === mod.client) addComments(msg.comments);
  });
  mod.poll = setInterval(() => {
    if (!document.hidden) refreshMutes();
  }, MUTES_EVERY_MS);
  mod.tick = setInterval(showTimesLeft, 1000);
  refreshMutes();
}

function stopModeration() {
  if (mod.client) mod.client.close();
  mod.client = null;
  clearInterval(mod.poll);
  clearInterval(mod.tick);
  mod.poll = mod.tick = null;
  mod.ticket += 1;
  setConn("closed", "");
}

function setConn(stateName, text) {
  $("mod-body").dataset.state = stateName;
  setText($("mod-conn"), text);
}

function showModError(text, from) {
  const box = $("mod-error");
  replace(box, h("p", { class: "err-message", text }));
  box.hidden = false;
  mod.errorFrom = from;
}

/** Clear the error shown, or only one that came from `from`. */
function clearModError(from) {
  if (from && mod.errorFrom !== from) return;
  $("mod-error").hidden = true;
  $("mod-error").replaceChildren();
  mod.errorFrom = null;
}

/** An API failure in words: what failed, why, and the status and code. */
function modErrorText(doing, err) {
  const event = `“${mod.eventId}”`;
  const why = {
    0: `the gateway cannot be reached (${err.message})`,
    400: `the gateway refused the request: ${err.message}`,
    401: "the API key was refused. Check the key above",
    403: `this API key may not moderate ${event}: it is a key for other events. Use the event's scorer key or an admin key`,
    404: err.code === "not_muted" ? "that viewer is not muted (any more)" : `there is no event ${event} (any more)`,
    429: "too many requests or wrong keys from this address; wait a few seconds",
    503: "the gateway cannot reach its store right now; try again in a moment",
    507: "too many viewers are muted on this event already; unmute some first",
  }[err.status];
  return `${doing}: ${why || err.message} (${err.status || "network"} ${err.code}).`;
}

function lengthText(seconds) {
  return LENGTHS[seconds] || `${Math.round(seconds / 60)} min`;
}

function timeLeft(until) {
  const s = Math.max(0, Math.round((until - (Date.now() + mod.skew)) / 1000));
  if (s === 0) return "ending…";
  if (s < 60) return `${s} s left`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s left`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min left`;
}

function showTimesLeft() {
  for (const el of $("mod-mutes").querySelectorAll("[data-until]")) setText(el, timeLeft(Number(el.dataset.until)));
}

function addComments(comments) {
  if (!Array.isArray(comments)) return;
  const list = $("mod-comments");
  const seconds = Number($("mod-seconds").value);
  for (const c of comments) {
    if (!c || typeof c.id !== "string" || typeof c.comment !== "string") continue;
    const idEl = `mod-c${mod.n++}`;
    const verified = c.verified === true;
    const row = h(
      "li",
      { class: "mod-item", dataset: { viewer: c.id } },
      h("span", { class: "mod-emoji", text: typeof c.emoji === "string" ? c.emoji : "" }),
      h(
        "div",
        { class: "mod-main" },
        h(
          "p",
          { class: "mod-who" },
          h("code", { class: "mod-id", id: idEl, text: c.id }),
          verified && typeof c.name === "string" ? h("span", { class: "mod-name", text: c.name }) : null,
          verified ? h("span", { class: "mod-verified", title: "Vouched for by a viewer token", text: "✓ verified" }) : null,
          h("span", { class: "mod-badge", text: "muted", hidden: !mod.muted.has(c.id) }),
          h("span", { class: "mod-time", text: clockTime() }),
        ),
        h("p", { class: "mod-text", text: c.comment }),
      ),
      h("button", {
        type: "button",
        class: "btn small danger mod-mute",
        "aria-describedby": idEl,
        dataset: { viewer: c.id },
        text: `Mute ${lengthText(seconds)}`,
      }),
    );
    list.prepend(row);
  }
  while (list.children.length > MAX_COMMENTS) list.lastElementChild.remove();
  $("mod-comments-empty").hidden = list.children.length > 0;
}

function showMutes() {
  const rows = [...mod.muted].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  replace(
    $("mod-mutes"),
    rows.map(([viewer, until]) => {
      const idEl = `mod-m${mod.n++}`;
      return h(
        "li",
        { class: "mod-item", dataset: { viewer } },
        h(
          "div",
          { class: "mod-main" },
          h("p", { class: "mod-who" }, h("code", { class: "mod-id", id: idEl, text: viewer })),
          h("p", { class: "mod-text" }, h("span", { dataset: { until }, text: timeLeft(until) }), ` (until ${clockTime(until - mod.skew)})`),
        ),
        h("button", { type: "button", class: "btn small mod-unmute", "aria-describedby": idEl, dataset: { viewer }, text: "Unmute" }),
      );
    }),
  );
  setText($("mod-mutes-note"), rows.length ? "" : "No one is muted on this event.");
  for (const row of $("mod-comments").children) {
    row.querySelector(".mod-badge").hidden = !mod.muted.has(row.dataset.viewer);
  }
}

async function refreshMutes() {
  if (!isOpen()) return;
  if (!state.key) {
    mod.muted = new Map();
    showMutes();
    setText($("mod-mutes-note"), "Enter the event's scorer key or an admin key above to see and change mutes.");
    return;
  }
  if (mod.keyRefused) return; // shown already; asking again with the same key changes nothing
  const ticket = ++mod.ticket;
  try {
    const body = await api(mutesPath(), { key: state.key });
    if (ticket !== mod.ticket) return;
    if (typeof body.now === "number") mod.skew = body.now - Date.now();
    mod.muted = new Map((body.mutes || []).map((m) => [m.id, m.until]));
    showMutes();
    clearModError("list");
  } catch (err) {
    if (ticket !== mod.ticket) return;
    mod.keyRefused = err.status === 401 || err.status === 403;
    if (mod.keyRefused) {
      // Not this key's to see: show no list rather than one it cannot vouch for.
      mod.muted = new Map();
      showMutes();
      setText($("mod-mutes-note"), "Not shown: the key was refused (see above).");
    }
    // The error of the action just taken says it better; a refresh right after it
    // usually fails for the same reason.
    if (mod.errorFrom !== "action") showModError(modErrorText("Cannot list the muted viewers", err), "list");
  }
}

function requireModKey() {
  if (state.key) return true;
  showModError("Enter the event's scorer key or an admin key above first.", "action");
  $("api-key").focus();
  return false;
}

async function mute(viewer, button) {
  const seconds = Number($("mod-seconds").value);
  clearModError();
  setText($("mod-status"), "");
  if (!requireModKey()) return;
  button.disabled = true;
  try {
    const result = await api(mutesPath(), { method: "POST", body: { id: viewer, seconds }, key: state.key });
    setText($("mod-status"), `Muted ${viewer} for ${lengthText(seconds)} (until ${clockTime(result.until)}).`);
  } catch (err) {
    showModError(modErrorText(`Could not mute ${viewer}`, err), "action");
  } finally {
    button.disabled = false;
  }
  mod.keyRefused = false;
  await refreshMutes();
}

async function unmute(viewer, button) {
  clearModError();
  setText($("mod-status"), "");
  if (!requireModKey()) return;
  button.disabled = true;
  try {
    await api(mutesPath(viewer), { method: "DELETE", key: state.key });
    setText($("mod-status"), `Unmuted ${viewer}.`);
  } catch (err) {
    showModError(modErrorText(`Could not unmute ${viewer}`, err), "action");
  } finally {
    button.disabled = false;
  }
  mod.keyRefused = false;
  await refreshMutes();
}

function wireModeration() {
  $("mod-details").addEventListener("toggle", () => {
    if ($("mod-details").open) startModeration();
    else stopModeration();
  });
  $("mod-seconds").addEventListener("change", () => {
    const label = `Mute ${lengthText(Number($("mod-seconds").value))}`;
    for (const button of $("mod-comments").querySelectorAll(".mod-mute")) setText(button, label);
  });
  $("mod-comments").addEventListener("click", (event) => {
    const button = event.target.closest(".mod-mute");
    if (button) mute(button.dataset.viewer, button);
  });
  $("mod-mutes").addEventListener("click", (event) => {
    const button = event.target.closest(".mod-unmute");
    if (button) unmute(button.dataset.viewer, button);
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshMutes();
  });
}

/** A new key (or none): ask for the mutes again with it. */
function moderationKeyChanged() {
  mod.keyRefused = false;
  clearModError();
  refreshMutes();
}

// -- wiring ----------------------------------------------------------------------------------------

function wire() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveKey($("api-key").value.trim());
    setText($("key-status"), state.key ? "Key saved for this tab." : "No key set.");
    moderationKeyChanged();
  });
  $("forget-key").addEventListener("click", () => {
    saveKey("");
    $("api-key").value = "";
    setText($("key-status"), "Key forgotten.");
    moderationKeyChanged();
  });
  $("refresh-events").addEventListener("click", () => refreshEvents());
  $("event-select").addEventListener("change", (event) => selectEvent(event.target.value));

  $("create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!requireKey()) return;
    const id = $("new-id").value.trim();
    const body = { sport: $("new-sport").value };
    const title = $("new-title").value.trim();
    if (title) body.title = title;
    try {
      const created = await api(`/api/events/${encodeURIComponent(id)}`, { method: "PUT", body, key: state.key });
      setText($("event-status"), `Event ${created.eventId} ${created.seq ? "updated" : "ready"}.`);
      await refreshEvents(created.eventId);
      state.event = null; // rebuild the form for its sport
      await selectEvent(created.eventId);
      $("create-details").open = false;
    } catch (err) {
      setText($("event-status"), `Not created: ${err.message}`);
      showError(err, { fromForm: false });
    }
  });

  $("sport-form").addEventListener("submit", (event) => {
    event.preventDefault();
    publish(formPayload(), { fromForm: true });
  });
  $("form-to-json").addEventListener("click", () => {
    $("raw-json").value = JSON.stringify(formPayload(), null, 2);
    $("raw-json").focus();
  });
  $("form-prefill").addEventListener("click", () => {
    clearErrors();
    prefill();
  });
  $("raw-form").addEventListener("submit", (event) => {
    event.preventDefault();
    let payload;
    try {
      payload = JSON.parse($("raw-json").value);
    } catch (err) {
      showError({ status: 0, code: "bad_json", message: `Not valid JSON: ${err.message}`, fields: [] }, { fromForm: false });
      return;
    }
    publish(payload, { fromForm: false });
  });

  $("end-event").addEventListener("click", () => {
    $("end-confirm").hidden = false;
    $("end-no").focus();
  });
  $("end-no").addEventListener("click", () => {
    $("end-confirm").hidden = true;
    $("end-event").focus();
  });
  $("end-yes").addEventListener("click", async () => {
    $("end-confirm").hidden = true;
    if (!state.event || !requireKey()) return;
    try {
      state.event = { ...state.event, ...(await api(`/api/events/${encodeURIComponent(state.event.eventId)}/end`, { method: "POST", key: state.key })) };
      showEventInfo();
      setText($("event-status"), "The event has ended.");
      await refreshEvents();
    } catch (err) {
      showError(err, { fromForm: false });
    }
  });
}

wire();
wireModeration();
loadKey();
const initial = new URLSearchParams(location.search).get("event");
refreshEvents(initial || undefined).then(() => {
  if (initial) selectEvent(initial);
});
