// Football scoreboard: scoreline, clock and period from each update; the incidents
// timeline and goal scorers from the stream of updates (docs/sports.md).
import { count, h, isObject, replace, setText, show } from "../common.js";

export const name = "football";

export function looksLike(data) {
  return isObject(data) && typeof data.kind === "string" && isObject(data.score);
}

const PERIODS = {
  first_half: "First half",
  second_half: "Second half",
  extra_time_first_half: "Extra time, first half",
  extra_time_second_half: "Extra time, second half",
  penalty_shootout: "Penalty shootout",
};

const KINDS = {
  goal: { icon: "⚽", text: "Goal" },
  own_goal: { icon: "⚽", text: "Own goal" },
  penalty: { icon: "⚽", text: "Penalty" },
  yellow_card: { icon: "🟨", text: "Yellow card" },
  red_card: { icon: "🟥", text: "Red card" },
  foul: { icon: "🦶", text: "Foul" },
  substitution: { icon: "🔁", text: "Substitution" },
  var: { icon: "📺", text: "VAR" },
  kick_off: { icon: "⏱️", text: "Kick-off" },
  half_time: { icon: "⏸️", text: "Half time" },
  full_time: { icon: "🏁", text: "Full time" },
};

const HEADLINES = {
  goal: "GOAL",
  own_goal: "OWN GOAL",
  penalty: "PENALTY",
  yellow_card: "YELLOW CARD",
  red_card: "RED CARD",
  foul: "FOUL",
  substitution: "SUBSTITUTION",
  var: "VAR",
  kick_off: "KICK-OFF",
  half_time: "HALF-TIME",
  full_time: "FULL-TIME",
};

function pair(value) {
  if (!isObject(value)) return null;
  const home = count(value.home);
  const away = count(value.away);
  return home === null || away === null ? null : { home, away };
}

export function clock(data) {
  const minute = count(data.minute);
  if (minute === null) return "";
  const added = count(data.addedTime);
  return added ? `${minute}+${added}'` : `${minute}'`;
}

/** `45+2' GOAL Kane (home) 1-0`, like the server's summary. */
export function summary(data) {
  const parts = [clock(data) || "?'", HEADLINES[data.kind] || show(data.kind, "?")];
  if (data.kind === "penalty" && typeof data.outcome === "string") parts.push(data.outcome);
  if (data.kind === "var" && typeof data.decision === "string") parts.push(data.decision);
  if (data.kind === "substitution") parts.push(`${show(data.playerIn, "?")} for ${show(data.playerOut, "?")}`);
  else if (typeof data.player === "string") parts.push(data.player);
  if (data.team === "home" || data.team === "away") parts.push(`(${data.team})`);
  const score = pair(data.score);
  if (score) parts.push(`${score.home}-${score.away}`);
  const pens = pair(data.shootout);
  if (pens) parts.push(`(pens ${pens.home}-${pens.away})`);
  return parts.join(" ");
}

function teamNames(data, previous, title) {
  if (isObject(data.teams) && typeof data.teams.home === "string" && typeof data.teams.away === "string") {
    return { home: data.teams.home, away: data.teams.away };
  }
  if (previous) return previous;
  // "Arsenal v Chelsea, FA Cup final" -> Arsenal, Chelsea.
  const m = /^(.+?)\s+(?:v|vs\.?)\s+(.+?)(?:,|$)/.exec(title || "");
  return m ? { home: m[1], away: m[2] } : { home: "Home", away: "Away" };
}

export function announce(data, ctx) {
  const names = teamNames(data, null, ctx && ctx.title);
  const score = pair(data.score);
  const kind = KINDS[data.kind] ? KINDS[data.kind].text : show(data.kind);
  const who = data.kind === "substitution"
    ? `${show(data.playerIn)} on for ${show(data.playerOut)}`
    : show(data.player);
  const team = data.team === "home" || data.team === "away" ? names[data.team] : "";
  const line = [`${clock(data)} ${kind}`, who, team].filter(Boolean).join(", ");
  return score ? `${line}. ${names.home} ${score.home}, ${names.away} ${score.away}.` : `${line}.`;
}

function incidentText(data, names) {
  const team = data.team === "home" || data.team === "away" ? names[data.team] : "";
  switch (data.kind) {
    case "goal":
      return `Goal: ${show(data.player, "?")}${data.assist ? ` (assist ${show(data.assist)})` : ""}`;
    case "own_goal":
      return `Own goal: ${show(data.player, "?")}${team ? ` (${team})` : ""}`;
    case "penalty":
      return `Penalty ${show(data.outcome, "")}: ${show(data.player, "?")}`;
    case "substitution":
      return `On: ${show(data.playerIn, "?")}, off: ${show(data.playerOut, "?")}`;
    case "var":
      return `VAR: ${show(data.decision, "review")}${data.player ? ` (${show(data.player)})` : ""}`;
    case "kick_off":
      return `Kick-off${data.period && PERIODS[data.period] ? `: ${PERIODS[data.period].toLowerCase()}` : ""}`;
    case "half_time":
    case "full_time":
      return KINDS[data.kind].text;
    default: {
      const kind = KINDS[data.kind] ? KINDS[data.kind].text : show(data.kind, "Incident");
      return `${kind}${data.player ? `: ${show(data.player)}` : ""}`;
    }
  }
}

/** Whose goal an incident is, for the scorers' lines: "home", "away" or null. */
function goalFor(data) {
  if (data.period === "penalty_shootout") return null;
  const scored = data.kind === "goal" || (data.kind === "penalty" && data.outcome === "scored");
  if (scored && (data.team === "home" || data.team === "away")) return data.team;
  if (data.kind === "own_goal") return data.team === "home" ? "away" : data.team === "away" ? "home" : null;
  return null;
}

/** A feed that never names the period: guess it from the clock (45+2' is still the first half). */
function periodFromClock(data) {
  const minute = count(data.minute);
  if (minute === null) return null;
  if (minute <= 45) return "first_half";
  if (minute <= 90) return "second_half";
  if (minute <= 105) return "extra_time_first_half";
  return "extra_time_second_half";
}

const MAX_INCIDENTS = 80;

export function createBoard(root, ctx) {
  const homeName = h("p", { class: "fb-team home" });
  const awayName = h("p", { class: "fb-team away" });
  const homeScore = h("span", { class: "fb-goals home" });
  const awayScore = h("span", { class: "fb-goals away" });
  const homeScorers = h("ul", { class: "fb-scorers home", "aria-label": "Home scorers" });
  const awayScorers = h("ul", { class: "fb-scorers away", "aria-label": "Away scorers" });
  const minute = h("span", { class: "fb-minute" });
  const period = h("span", { class: "fb-period" });
  const pens = h("p", { class: "fb-pens", hidden: true });
  const timeline = h("ol", { class: "timeline", "aria-label": "Match incidents, latest first" });
  replace(
    root,
    h(
      "div",
      { class: "board football" },
      h(
        "div",
        { class: "fb-scoreline" },
        h("div", { class: "fb-side home" }, homeName, homeScorers),
        h("p", { class: "fb-score" }, homeScore, h("span", { class: "fb-dash", "aria-hidden": "true", text: "–" }), awayScore),
        h("div", { class: "fb-side away" }, awayName, awayScorers),
      ),
      h("p", { class: "fb-clock" }, minute, period),
      pens,
      h("h3", { class: "small-head", text: "Timeline" }),
      timeline,
    ),
  );

  let names = null;
  let incidents = [];
  let scorers = { home: [], away: [] };
  let lastScore = null;
  let lastPeriod = null; // updates after a kick-off may leave the period out

  function render(data) {
    names = teamNames(data, names, ctx && ctx.title);
    setText(homeName, names.home);
    setText(awayName, names.away);
    const score = pair(data.score) || { home: 0, away: 0 };
    setText(homeScore, score.home);
    setText(awayScore, score.away);
    setText(minute, clock(data));
    if (PERIODS[data.period]) lastPeriod = data.period;
    let state = PERIODS[lastPeriod] || PERIODS[periodFromClock(data)] || "";
    if (data.kind === "half_time") state = "Half time";
    if (data.kind === "full_time") state = "Full time";
    setText(period, state);
    const shootout = pair(data.shootout);
    pens.hidden = !shootout;
    if (shootout) setText(pens, `Penalties ${shootout.home}–${shootout.away}`);
    for (const side of ["home", "away"]) {
      replace(side === "home" ? homeScorers : awayScorers, scorers[side].map((s) => h("li", { text: s })));
    }
    replace(
      timeline,
      incidents.map((item) =>
        h(
          "li",
          { class: `incident ${item.kind} ${item.team || "neutral"}` },
          h("span", { class: "when", text: item.clock }),
          h("span", { class: "icon", "aria-hidden": "true", text: (KINDS[item.kind] || { icon: "•" }).icon }),
          h("span", { class: "what", text: item.text }),
          item.team ? h("span", { class: "whose", text: names[item.team] }) : null,
        ),
      ),
    );
  }

  function track(data) {
    const current = teamNames(data, names, ctx && ctx.title);
    const team = data.team === "home" || data.team === "away" ? data.team : null;
    incidents.unshift({ kind: data.kind, team, clock: clock(data), text: incidentText(data, current) });
    incidents.length = Math.min(incidents.length, MAX_INCIDENTS);
    const side = goalFor(data);
    if (side) {
      const og = data.kind === "own_goal" ? " (og)" : data.kind === "penalty" ? " (pen)" : "";
      scorers[side].push(`${show(data.player, "?")} ${clock(data)}${og}`);
    }
    const score = pair(data.score);
    if (data.kind === "var" && score && lastScore) {
      // A goal taken away by VAR stays listed, struck through in words.
      for (const s of ["home", "away"]) {
        const list = scorers[s];
        if (score[s] < lastScore[s] && list.length) list[list.length - 1] += " (disallowed)";
      }
    }
    if (score) lastScore = score;
  }

  return {
    reset(snapshot, state) {
      incidents = [];
      scorers = { home: [], away: [] };
      names = null;
      lastScore = null;
      lastPeriod = null;
      // The whole match from the server's match state; the snapshot is its last incident.
      const earlier = isObject(state) && Array.isArray(state.timeline) ? state.timeline.slice(0, -1) : [];
      for (const incident of earlier) if (isObject(incident)) track(incident);
      if (snapshot) this.update(snapshot);
    },
    update(data) {
      track(data);
      render(data);
    },
  };
}
