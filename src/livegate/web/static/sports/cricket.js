// Cricket scoreboard: decodes the payloads of docs/sports.md ("ball N", batsman, bowler, ...).
// Figures may be integers or digit strings ("100"); every optional field may be missing.
import { count, h, isObject, replace, setText, show } from "../common.js";
import { fold, renderScorecard } from "./scorecard.js";

const BALL_KEY = /^ball ([1-9]\d*)$/;

export const name = "cricket";

// Updates that are not a ball (docs/sports.md): shown on the board, which keeps its figures.
const STATUS_KINDS = {
  toss: "Toss",
  innings_break: "Innings break",
  delay: "Delay",
  resumed: "Resumed",
  stumps: "Stumps",
  result: "Result",
  note: "Note",
};

function statusLabel(data) {
  return isObject(data) && typeof data.kind === "string" && Object.hasOwn(STATUS_KINDS, data.kind)
    ? STATUS_KINDS[data.kind]
    : null;
}

function statusText(data) {
  const label = statusLabel(data);
  const score = typeof data.score === "string" ? data.score : "";
  const team = typeof data.battingTeam === "string" ? `${data.battingTeam} ` : "";
  const comment = typeof data.comment === "string" ? data.comment : "";
  return `${label}${score ? `: ${team}${score}` : ""}${comment ? `: ${comment}` : ""}`;
}

export function looksLike(data) {
  return isObject(data) && (ballEntry(data) !== null || statusLabel(data) !== null);
}

/** ["ball 31", 31, "47/1"] or null. */
function ballEntry(data) {
  for (const [key, value] of Object.entries(data)) {
    const m = BALL_KEY.exec(key);
    if (m) return [key, Number(m[1]), show(value, "?")];
  }
  return null;
}

/** {runs, wickets} from "47/1" (null parts when unreadable). */
function parseScore(text) {
  const m = /^(\d+)\/(\d+)$/.exec(String(text).trim());
  return m ? { runs: Number(m[1]), wickets: Number(m[2]) } : { runs: null, wickets: null };
}

/** Legal balls from overs "O.B" (B may be 6, as in the spec's "3.6"); 4 or "4" is 4 overs. */
function parseOvers(value) {
  const text = typeof value === "number" ? String(value) : show(value);
  const m = /^(\d+)(?:\.([0-6]))?$/.exec(text.trim());
  if (!m) return null;
  return { overs: Number(m[1]), balls: Number(m[2] || 0) };
}

function legalBalls(value) {
  const o = parseOvers(value);
  return o ? o.overs * 6 + o.balls : null;
}

function wickets(event) {
  if (!isObject(event)) return [];
  const w = event.wicket;
  if (Array.isArray(w)) return w.filter(isObject);
  return isObject(w) ? [w] : [];
}

const NOT_OUT_KINDS = new Set(["retired hurt", "retired not out"]);

function playersOut(data) {
  return new Set(
    wickets(data.event)
      .filter((w) => !NOT_OUT_KINDS.has(w.kind))
      .map((w) => show(w.playerOut)),
  );
}

function isLegal(event) {
  return !(isObject(event) && (event.extraKind === "wide" || event.extraKind === "noball"));
}

/** Overs limit of the innings: meta or payload field, super over, or the title's format. */
export function oversLimit(data, ctx) {
  const meta = (ctx && ctx.meta) || {};
  for (const value of [data.maxOvers, data.oversLimit, meta.maxOvers, meta.oversLimit, meta.overs]) {
    const n = count(value);
    if (n) return n;
  }
  if (data.superOver === true) return 1;
  const title = (ctx && ctx.title) || "";
  if (/\bT20\b|twenty20/i.test(title)) return 20;
  if (/\bT10\b/i.test(title)) return 10;
  if (/\bODI\b|one[- ]day/i.test(title)) return 50;
  return null;
}

/** One delivery as a short label and a description: {label, kind, text}. */
export function describeBall(event, delta) {
  if (isObject(event)) {
    const runs = count(event.runs) ?? 0;
    const batterRuns = count(event.batterRuns) ?? 0;
    const extras = count(event.extras) ?? 0;
    const outs = wickets(event);
    if (outs.length && !outs.every((w) => NOT_OUT_KINDS.has(w.kind))) {
      const who = outs.map((w) => `${show(w.playerOut, "batter")} ${show(w.kind, "out")}`);
      return { label: runs ? `${runs}W` : "W", kind: "wicket", text: `wicket: ${who.join(", ")}` };
    }
    switch (event.extraKind) {
      case "wide":
        return { label: extras > 1 ? `${extras}wd` : "wd", kind: "extra", text: `wide, ${runs} run${runs === 1 ? "" : "s"}` };
      case "noball":
        return { label: batterRuns ? `nb+${batterRuns}` : "nb", kind: "extra", text: `no ball, ${runs} runs` };
      case "bye":
        return { label: `${extras}b`, kind: "extra", text: `${extras} bye${extras === 1 ? "" : "s"}` };
      case "legbye":
        return { label: `${extras}lb`, kind: "extra", text: `${extras} leg bye${extras === 1 ? "" : "s"}` };
      case "penalty":
        return { label: `${extras}p`, kind: "extra", text: `${extras} penalty runs` };
      default:
        break;
    }
    if (runs === 0) return { label: "•", kind: "dot", text: "dot ball" };
    if (batterRuns === 4 || event.boundary === 4) return { label: "4", kind: "four", text: "four" };
    if (batterRuns === 6 || event.boundary === 6) return { label: "6", kind: "six", text: "six" };
    return { label: String(runs), kind: "runs", text: `${runs} run${runs === 1 ? "" : "s"}` };
  }
  if (delta) {
    // No "event": tell what happened from the change in the score.
    if (delta.wickets > 0) return { label: "W", kind: "wicket", text: "wicket" };
    if (delta.runs === 0) return { label: "•", kind: "dot", text: "dot ball" };
    if (delta.runs === 4) return { label: "4", kind: "four", text: "four" };
    if (delta.runs === 6) return { label: "6", kind: "six", text: "six" };
    if (delta.runs > 0) return { label: String(delta.runs), kind: "runs", text: `${delta.runs} runs` };
  }
  return null;
}

/** Which over a ball belongs to, from the overs after it: "4.0" after a legal ball is over 4. */
function overIndex(oversAfter, legal) {
  const o = parseOvers(oversAfter);
  if (!o) return null;
  if (o.balls === 6) return o.overs;
  if (o.balls === 0 && legal && o.overs > 0) return o.overs - 1;
  return o.overs;
}

/** Innings facts that a payload may leave out: missing means "as before". */
function inningsOf(data, before) {
  const known = before || {};
  const innings = count(data.innings) ?? known.innings ?? null;
  const changed = known.innings !== undefined && innings !== known.innings;
  const carry = (key) => (typeof data[key] === "string" ? data[key] : changed ? null : known[key] ?? null);
  return {
    innings,
    battingTeam: carry("battingTeam"),
    bowlingTeam: carry("bowlingTeam"),
    superOver: typeof data.superOver === "boolean" ? data.superOver : changed ? false : known.superOver ?? false,
  };
}

function inningsKey(inn) {
  return `${inn.innings}|${inn.battingTeam}|${inn.superOver}`;
}

/** The over a ball is in, as a comparable key; innings overs first, else the bowler's own. */
function overKey(data, inn) {
  const legal = isLegal(data.event);
  const bowler = isObject(data.bowler) ? data.bowler : {};
  if ("overs" in data) {
    const index = overIndex(data.overs, legal);
    if (index !== null) return `${inningsKey(inn)}#${index}`;
  }
  const index = overIndex(bowler.overs, legal);
  return `${inningsKey(inn)}#${show(bowler.name)}#${index}`;
}

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"];
  const v = n % 100;
  return n + (s[(v - 20) % 10] || s[v] || s[0]);
}

function rate(runs, balls) {
  return balls > 0 ? ((runs * 6) / balls).toFixed(2) : "-";
}

/** `Mumbai Indians 47/1 (5.0 ov) RG Sharma 18* (12), V Nigam 1-2`, like the server's summary. */
export function summary(data) {
  if (statusLabel(data)) return statusText(data);
  const ball = ballEntry(data);
  let head = ball ? ball[2] : "?";
  if (typeof data.battingTeam === "string") head = `${data.battingTeam} ${head}`;
  const notes = [];
  if ("overs" in data) notes.push(`${show(data.overs)} ov`);
  if ("target" in data) notes.push(`target ${show(data.target)}`);
  if (data.superOver === true) notes.push("super over");
  if (notes.length) head += ` (${notes.join(", ")})`;
  let line = head;
  const out = playersOut(data);
  if (isObject(data.batsman)) {
    const b = data.batsman;
    const star = out.has(show(b.name)) ? "" : "*";
    line += ` ${show(b.name, "?")} ${show(b.runs, "?")}${star} (${show(b.balls, "?")})`;
  }
  if (isObject(data.bowler)) {
    const b = data.bowler;
    line += `, ${show(b.name, "?")} ${show(b.wickets, "?")}-${show(b.runs, "?")}`;
  }
  return line;
}

/** What a screen reader hears for a new ball. */
export function announce(data) {
  if (statusLabel(data)) return `${statusText(data)}.`;
  const ball = ballEntry(data);
  const score = ball ? ball[2].replace("/", " for ") : "";
  const what = describeBall(data.event, null);
  const team = typeof data.battingTeam === "string" ? `${data.battingTeam} ` : "";
  const overs = "overs" in data ? `, ${show(data.overs)} overs` : "";
  return `${what ? `${what.text}. ` : ""}${team}${score}${overs}.`;
}

function table(caption, heads) {
  const body = h("tbody");
  const el = h(
    "table",
    { class: "figures" },
    h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, h("tr", {}, heads.map((t, i) => h("th", { scope: "col", class: i ? "num" : "", text: t })))),
    body,
  );
  return { el, body };
}

function cell(text, cls = "num") {
  return h("td", { class: cls, text });
}

export function createBoard(root, ctx) {
  const team = h("p", { class: "cr-team" });
  const innings = h("p", { class: "cr-innings" });
  const runs = h("span", { class: "cr-runs" });
  const overs = h("span", { class: "cr-overs" });
  const rates = h("p", { class: "cr-rates" });
  const chase = h("p", { class: "cr-chase", hidden: true });
  const ballsList = h("ol", { class: "balls", "aria-label": "Balls this over" });
  const overLabel = h("span", { class: "label", text: "This over" });
  const batting = table("Batters", ["Batter", "R", "B", "4s", "6s", "SR"]);
  const bowling = table("Bowler", ["Bowler", "O", "M", "R", "W", "Econ"]);
  const extras = h("p", { class: "cr-extras" });
  const lastBall = h("p", { class: "cr-last" });
  const scorecardEl = h("div", { class: "cr-scorecard" });
  replace(
    root,
    h(
      "div",
      { class: "board cricket" },
      h("div", { class: "cr-head" }, team, innings),
      h("p", { class: "cr-score" }, runs, " ", overs),
      rates,
      chase,
      h("div", { class: "cr-over" }, overLabel, ballsList),
      h("div", { class: "table-wrap" }, batting.el),
      h("div", { class: "table-wrap" }, bowling.el),
      extras,
      lastBall,
      scorecardEl,
    ),
  );

  let currentOver = null;
  let balls = [];
  let previous = null;
  let inn = null; // innings facts carried from update to update

  function trackBall(data) {
    const before = inn;
    inn = inningsOf(data, before);
    const key = overKey(data, inn);
    if (key !== currentOver) {
      currentOver = key;
      balls = [];
    }
    let delta = null;
    if (previous && before && inningsKey(before) === inningsKey(inn)) {
      const a = parseScore(ballEntry(previous)[2]);
      const b = parseScore(ballEntry(data)[2]);
      if (a.runs !== null && b.runs !== null) {
        delta = { runs: b.runs - a.runs, wickets: b.wickets - a.wickets };
      }
    }
    const ball = describeBall(data.event, delta);
    if (ball) balls.push(ball);
    previous = data;
  }

  function render(data) {
    const entry = ballEntry(data);
    const score = parseScore(entry[2]);
    setText(team, inn.battingTeam || "Batting");
    const parts = [];
    if (inn.innings) parts.push(`${ordinal(inn.innings)} innings`);
    if (inn.superOver) parts.push("super over");
    if (inn.bowlingTeam) parts.push(`v ${inn.bowlingTeam}`);
    setText(innings, parts.join(" · "));
    setText(runs, entry[2]);
    const played = "overs" in data ? legalBalls(data.overs) : null;
    setText(overs, played !== null ? `(${show(data.overs)} ov)` : `(ball ${entry[1]})`);
    setText(rates, played !== null && score.runs !== null ? `CRR ${rate(score.runs, played)}` : "");

    const target = count(data.target);
    chase.hidden = !target;
    if (target && score.runs !== null) {
      const need = target - score.runs;
      const limit = oversLimit(data, ctx);
      let text = `Target ${target} · `;
      if (need <= 0) text += "target reached";
      else {
        text += `need ${need} run${need === 1 ? "" : "s"}`;
        if (limit && played !== null) {
          const left = limit * 6 - played;
          if (left > 0) text += ` from ${left} ball${left === 1 ? "" : "s"} · RRR ${rate(need, left)}`;
        }
      }
      setText(chase, text);
    }

    replace(
      ballsList,
      balls.map((b) => h("li", { class: `ball ${b.kind}`, title: b.text, "aria-label": b.text, text: b.label })),
    );
    overLabel.hidden = false;

    const out = playersOut(data);
    const onStrike = isObject(data.batsman) ? show(data.batsman.name) : "";
    const rows = [];
    for (const batter of [data.batsman, data.nonStriker]) {
      if (!isObject(batter)) continue;
      const bName = show(batter.name, "?");
      const isOut = out.has(bName);
      const r = count(batter.runs);
      const b = count(batter.balls);
      rows.push(
        h(
          "tr",
          { class: isOut ? "out" : bName === onStrike ? "striker" : "" },
          h(
            "th",
            { scope: "row" },
            bName,
            isOut ? h("span", { class: "note", text: " out" }) : null,
            !isOut && bName === onStrike ? h("span", { class: "strike", title: "on strike", "aria-label": "on strike", text: " *" }) : null,
          ),
          cell(show(batter.runs, "-")),
          cell(show(batter.balls, "-")),
          cell(show(batter.fours, "-")),
          cell(show(batter.sixes, "-")),
          cell(r !== null && b ? ((r * 100) / b).toFixed(1) : "-"),
        ),
      );
    }
    replace(batting.body, rows);

    const bowler = isObject(data.bowler) ? data.bowler : {};
    const bBalls = legalBalls(bowler.overs);
    const bRuns = count(bowler.runs);
    replace(
      bowling.body,
      h(
        "tr",
        {},
        h("th", { scope: "row", text: show(bowler.name, "?") }),
        cell(show(bowler.overs, "-")),
        cell(show(bowler.maiden, "-")),
        cell(show(bowler.runs, "-")),
        cell(show(bowler.wickets, "-")),
        cell(bBalls && bRuns !== null ? rate(bRuns, bBalls) : "-"),
      ),
    );

    if (isObject(data.extras)) {
      const e = data.extras;
      const labels = [["wides", "wd"], ["noballs", "nb"], ["byes", "b"], ["legbyes", "lb"], ["penalty", "pen"]];
      const total = labels.reduce((sum, [k]) => sum + (count(e[k]) || 0), 0);
      const detail = labels.filter(([k]) => k in e).map(([k, l]) => `${l} ${show(e[k])}`);
      setText(extras, `Extras ${total}${detail.length ? ` (${detail.join(", ")})` : ""}`);
    } else {
      setText(extras, "");
    }
    setText(lastBall, typeof data.comment === "string" ? data.comment : "");
  }

  // The whole scorecard: the server's fold on join (`joined.state`), then ours per update.
  let scorecard = null;

  return {
    reset(snapshot, state) {
      currentOver = null;
      balls = [];
      previous = null;
      inn = null;
      // Without the server's state (the first update, or an older server): fold the snapshot.
      scorecard = isObject(state) ? state : snapshot ? fold(null, snapshot) : null;
      if (snapshot) this.render(snapshot);
      renderScorecard(scorecardEl, scorecard);
    },
    update(data) {
      scorecard = fold(scorecard, data);
      renderScorecard(scorecardEl, scorecard);
      this.render(data);
    },
    render(data) {
      if (statusLabel(data)) {
        // No ball: the figures stay; the status shows where the last ball's comment was.
        if (typeof data.battingTeam === "string") setText(team, data.battingTeam);
        if (typeof data.score === "string") setText(runs, data.score);
        setText(lastBall, statusText(data));
        lastBall.dataset.kind = "status";
        return;
      }
      delete lastBall.dataset.kind;
      trackBall(data);
      render(data);
    },
  };
}
