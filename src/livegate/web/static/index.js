// The event list: every event with its sport, title, status, its score line (the
// sport's summary, or the result once ended) and live viewers, refreshed from
// GET /api/events every 2 seconds (rows are updated in place).
import { api, h, setText, sportIcon } from "./common.js";

const POLL_MS = 2000;
const STATUS_TEXT = { scheduled: "Scheduled", live: "Live", ended: "Ended" };
const ORDER = { live: 0, scheduled: 1, ended: 2 };
const rows = new Map();
const list = document.getElementById("events");
let failing = false;

function makeRow(event) {
  const link = h("a", { class: "event-link", href: `/events/${encodeURIComponent(event.eventId)}` });
  const icon = h("span", { class: "event-icon", "aria-hidden": "true" });
  const sport = h("span", { class: "event-sport" });
  const status = h("span", { class: "badge" });
  const viewers = h("span", { class: "viewers" });
  const updates = h("span", { class: "updates muted" });
  const line = h("p", { class: "event-line" });
  const li = h(
    "li",
    { class: "event-card", dataset: { eventId: event.eventId } },
    h("div", { class: "event-top" }, icon, sport, status),
    h("h2", { class: "event-title" }, link),
    line,
    h("p", { class: "event-bottom" }, h("span", { "aria-hidden": "true", text: "👁 " }), viewers, updates),
  );
  return { li, link, icon, sport, status, viewers, updates, line };
}

function render(events) {
  const seen = new Set();
  // Live first, then scheduled, then ended; creation order within each, so cards
  // do not jump around while the scores change.
  const sorted = [...events].sort(
    (a, b) => (ORDER[a.status] ?? 3) - (ORDER[b.status] ?? 3) || a.createdAt - b.createdAt,
  );
  sorted.forEach((event, index) => {
    seen.add(event.eventId);
    let row = rows.get(event.eventId);
    if (!row) {
      row = makeRow(event);
      rows.set(event.eventId, row);
    }
    setText(row.link, event.title || event.eventId);
    setText(row.icon, sportIcon(event.sport));
    setText(row.sport, event.sport);
    row.status.dataset.status = event.status;
    setText(row.status, STATUS_TEXT[event.status] || event.status);
    setText(row.viewers, `${event.viewers} watching`);
    // Ended: the result (never LIVE); else the latest score line.
    const line = event.status === "ended" && event.result ? event.result : event.summary || "";
    setText(row.line, line);
    row.line.hidden = !line;
    row.line.dataset.kind = event.status === "ended" && event.result ? "result" : "summary";
    const notes = [];
    if (event.peakViewers > event.viewers) notes.push(`peak ${event.peakViewers}`);
    if (event.seq) notes.push(`${event.seq} update${event.seq === 1 ? "" : "s"}`);
    setText(row.updates, notes.map((n) => ` · ${n}`).join(""));
    // Move only rows that are out of place, so focus and hover survive a refresh.
    if (list.children[index] !== row.li) list.insertBefore(row.li, list.children[index] || null);
  });
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.li.remove();
      rows.delete(id);
    }
  }
  document.getElementById("empty").hidden = events.length > 0;
  const live = events.filter((e) => e.status === "live");
  const watching = events.reduce((sum, e) => sum + (e.viewers || 0), 0);
  setText(
    document.getElementById("totals"),
    events.length ? `${live.length} live · ${watching} watching now` : "",
  );
}

async function poll() {
  try {
    const body = await api("/api/events");
    render(body.events || []);
    if (failing) setText(document.getElementById("refresh"), "");
    failing = false;
  } catch (err) {
    failing = true;
    setText(document.getElementById("refresh"), `Cannot reach the server (${err.message}); retrying…`);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
