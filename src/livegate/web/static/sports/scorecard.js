// The cricket scorecard: the same fold as the server's (src/livegate/sports/cricket_state.py),
// so a page that watched every ball and a page that joined late (and got `joined.state`)
// show the same card. Keep the two in step; tests compare their text.
import { h, isObject, replace, show } from "../common.js";

const BALL_KEY = /^ball ([1-9]\d{0,5})$/;
const SCORE = /^(\d{1,5})\/(\d{1,2})$/;
const RECENT_BALLS = 12;
const BATTER_FIELDS = ["runs", "balls", "fours", "sixes"];
const BOWLER_FIELDS = ["overs", "maiden", "runs", "wickets"];
const SHORT_EXTRAS = { wide: "wd", noball: "nb", bye: "b", legbye: "lb", penalty: "pen" };
const NOT_TEAM_WICKETS = new Set(["retired hurt", "retired not out"]);

function ballScore(payload) {
  for (const [key, value] of Object.entries(payload)) if (BALL_KEY.test(key)) return String(value);
  return null;
}

/** The scorecard after one accepted update (a copy; `state` is not modified). */
export function fold(state, payload) {
  const match = isObject(state) ? structuredClone(state) : { innings: [], recent: [] };
  if (!Array.isArray(match.innings)) match.innings = [];
  if (!Array.isArray(match.recent)) match.recent = [];
  const score = ballScore(payload);
  if (typeof payload.kind === "string" && score === null) {
    match.status = { kind: payload.kind, comment: payload.comment ?? "" };
    const innings = "battingTeam" in payload ? inningsOf(match, payload) : null;
    if (innings && typeof payload.score === "string") innings.score = payload.score;
    return match;
  }
  delete match.status;
  const innings = inningsOf(match, payload);
  const beforeRuns = innings.runs;
  const m = SCORE.exec(score || "");
  if (m) Object.assign(innings, { score, runs: Number(m[1]), wickets: Number(m[2]) });
  innings.balls += 1;
  for (const key of ["overs", "target"]) if (key in payload) innings[key] = payload[key];
  if (isObject(payload.extras)) innings.extras = payload.extras;
  for (const key of ["batsman", "nonStriker"]) update(innings.batting, payload[key], BATTER_FIELDS);
  update(innings.bowling, payload.bowler, BOWLER_FIELDS);
  innings.partnership.runs += Math.max(0, innings.runs - beforeRuns);
  innings.partnership.balls += 1;
  const wickets = wicketsOf(payload);
  const bowler = isObject(payload.bowler) ? String(payload.bowler.name ?? "") : "";
  for (const wicket of wickets) {
    const player = String(wicket.playerOut ?? "");
    entry(innings.batting, player).out = howOut(wicket, bowler);
    if (!NOT_TEAM_WICKETS.has(String(wicket.kind))) {
      innings.fallOfWickets.push({
        wicket: innings.fallOfWickets.length + 1,
        runs: innings.runs,
        player,
        overs: payload.overs ?? null,
      });
      innings.partnership = { runs: 0, balls: 0 };
    }
  }
  match.recent = [...match.recent, label(payload, wickets)].slice(-RECENT_BALLS);
  return match;
}

function inningsOf(match, payload) {
  const number = payload.innings;
  const team = payload.battingTeam;
  const last = match.innings[match.innings.length - 1];
  if (last) {
    const sameNumber = number === undefined || String(number) === String(last.number);
    // A feed may name the team only from some ball on: the innings it was in.
    const sameTeam = team === undefined || last.battingTeam === null || team === last.battingTeam;
    if (sameNumber && sameTeam) {
      if (team !== undefined) last.battingTeam = team;
      if (last.bowlingTeam === null && payload.bowlingTeam !== undefined) last.bowlingTeam = payload.bowlingTeam;
      return last;
    }
  }
  const fresh = {
    number: number !== undefined ? number : match.innings.length + 1,
    battingTeam: team ?? null,
    bowlingTeam: payload.bowlingTeam ?? null,
    superOver: payload.superOver === true,
    score: "0/0",
    runs: 0,
    wickets: 0,
    overs: null,
    target: payload.target ?? null,
    balls: 0,
    batting: [],
    bowling: [],
    extras: {},
    fallOfWickets: [],
    partnership: { runs: 0, balls: 0 },
  };
  match.innings.push(fresh);
  return fresh;
}

function entry(cards, name) {
  let card = cards.find((c) => c.name === name);
  if (!card) {
    card = { name };
    cards.push(card);
  }
  return card;
}

function update(cards, figures, fields) {
  if (!isObject(figures) || typeof figures.name !== "string") return;
  const card = entry(cards, figures.name);
  for (const field of fields) if (field in figures) card[field] = figures[field];
}

function wicketsOf(payload) {
  const event = isObject(payload.event) ? payload.event : null;
  const wicket = event ? event.wicket : null;
  const list = Array.isArray(wicket) ? wicket : [wicket];
  return list.filter((w) => isObject(w) && "playerOut" in w);
}

// The server's cricket.dismissal(), word for word.
function howOut(wicket, bowler) {
  const kind = String(wicket.kind ?? "");
  const fielders = Array.isArray(wicket.fielders) ? wicket.fielders.filter((f) => typeof f === "string") : [];
  if (kind === "bowled") return `b ${bowler}`;
  if (kind === "lbw" || kind === "hit wicket") return `${kind} b ${bowler}`;
  if (kind === "caught and bowled") return `c & b ${bowler}`;
  if (kind === "caught") return fielders.length ? `c ${fielders[0]} b ${bowler}` : `caught b ${bowler}`;
  if (kind === "stumped") return fielders.length ? `st ${fielders[0]} b ${bowler}` : `stumped b ${bowler}`;
  if (kind === "run out") return fielders.length ? `run out (${fielders.join("/")})` : "run out";
  return kind;
}

function label(payload, wickets) {
  if (wickets.length) return "W";
  const event = isObject(payload.event) ? payload.event : null;
  if (!event) return "•";
  const runs = event.runs ?? 0;
  const extra = SHORT_EXTRAS[String(event.extraKind ?? "")] || "";
  if (extra) return `${runs}${extra}`;
  return runs === 0 || runs === "0" ? "·" : String(runs);
}

// -- drawing ---------------------------------------------------------------------------------

function ordinal(n) {
  const v = Number(n);
  const s = ["th", "st", "nd", "rd"];
  return v + (s[(v % 100 - 20) % 10] || s[v % 100] || s[0]);
}

function row(cells, head) {
  return h("tr", {}, cells.map((text, i) => h(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : { class: head[i] ? "num" : "" }, String(text))));
}

function figures(caption, heads, rows, numeric) {
  return h(
    "table",
    { class: "sc-figures" },
    h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, h("tr", {}, heads.map((t, i) => h("th", { scope: "col", class: numeric[i] ? "num" : "", text: t })))),
    h("tbody", {}, rows.map((cells) => row(cells, numeric))),
  );
}

/** Draw the whole scorecard (every innings, latest first) into `root`. */
export function renderScorecard(root, state) {
  const innings = isObject(state) && Array.isArray(state.innings) ? state.innings : [];
  const blocks = [...innings].reverse().map((inn) => {
    const overs = inn.overs !== null && inn.overs !== undefined ? ` (${show(inn.overs)} ov)` : "";
    const team = inn.battingTeam ? `${inn.battingTeam} ` : "";
    const head = `${ordinal(inn.number)} innings${inn.superOver ? " (super over)" : ""}: ${team}${inn.score}${overs}`;
    const batting = figures(
      "Batting",
      ["Batter", "", "R", "B", "4s", "6s"],
      inn.batting.map((b) => [b.name, b.out || "not out", show(b.runs, "-"), show(b.balls, "-"), show(b.fours, "-"), show(b.sixes, "-")]),
      [false, false, true, true, true, true],
    );
    const bowling = figures(
      "Bowling",
      ["Bowler", "O", "M", "R", "W"],
      inn.bowling.map((b) => [b.name, show(b.overs, "-"), show(b.maiden, "-"), show(b.runs, "-"), show(b.wickets, "-")]),
      [false, true, true, true, true],
    );
    const extras = Object.entries(inn.extras || {}).map(([k, v]) => `${k} ${show(v)}`).join(", ");
    const fow = inn.fallOfWickets
      .map((f) => `${f.wicket}-${f.runs} (${f.player}${f.overs !== null && f.overs !== undefined ? `, ${show(f.overs)} ov` : ""})`)
      .join(", ");
    return h(
      "section",
      { class: "sc-innings" },
      h("h4", { class: "sc-head", text: head }),
      h("div", { class: "table-wrap" }, batting),
      h("p", { class: "sc-extras", text: extras ? `Extras: ${extras}` : "Extras: none" }),
      fow ? h("p", { class: "sc-fow", text: `Fall of wickets: ${fow}` }) : null,
      h("div", { class: "table-wrap" }, bowling),
      h("p", { class: "sc-partnership", text: `Partnership: ${inn.partnership.runs} off ${inn.partnership.balls}` }),
    );
  });
  const recent = isObject(state) && Array.isArray(state.recent) && state.recent.length
    ? h("p", { class: "sc-recent", text: `Last balls: ${state.recent.join(" ")}` })
    : null;
  replace(root, h("h3", { class: "small-head", text: "Scorecard" }), recent, blocks);
}
