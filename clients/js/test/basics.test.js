// Joining, scores, viewers, reactions, validation: one real server for the file.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";

import { connect, normalizeReaction } from "../livegate.js";
import { PYTHON, Server, recordingWebSocket, sleep, until, waitFor } from "../test-support/server.js";

const server = new Server();
const clients = [];

before(() => server.start());
after(() => {
  for (const c of clients) c.close();
  server.kill();
});

function open(eventId, options = {}) {
  const client = connect(server.ws, { id: "fan-1", eventId, backoff: { base: 0.05, cap: 0.2 }, ...options });
  clients.push(client);
  return client;
}

function collect(client, type) {
  const seen = [];
  client.on(type, (m) => seen.push(m));
  return seen;
}

test("joined carries the snapshot; live scores follow in seq order", async () => {
  await server.createEvent("snap", "Snapshot v Order");
  await server.publish("snap", { over: 1, runs: 4 });
  await server.publish("snap", { over: 2, runs: 9 });
  const client = open("snap");
  assert.equal(client.state, "connecting");
  assert.equal(client.lastSeq, null);
  const states = [];
  client.on("state", (s, d) => states.push([s, d]));
  const scores = collect(client, "score");
  const joined = await waitFor(client, "joined");
  assert.equal(joined.type, "joined");
  assert.equal(joined.eventId, "snap");
  assert.equal(joined.title, "Snapshot v Order");
  assert.equal(joined.status, "live");
  assert.equal(joined.seq, 2);
  assert.deepEqual(joined.snapshot, { over: 2, runs: 9 });
  assert.deepEqual(joined.heartbeat, { intervalMs: 300, timeoutMs: 1000 });
  assert.equal(typeof joined.epoch, "string");
  assert.equal("recovered" in joined, false, "a first join sends no since");
  assert.equal(client.joined, joined);
  assert.equal(client.state, "connected");
  assert.deepEqual(states.map(([s]) => s), ["connected"]);
  assert.equal(client.lastSeq, 2);

  for (let i = 3; i <= 7; i++) assert.equal(await server.publish("snap", { over: i }), i);
  await until(() => scores.length === 5, 3000, "5 scores");
  assert.deepEqual(scores.map((s) => s.seq), [3, 4, 5, 6, 7]);
  assert.deepEqual(scores.map((s) => s.data.over), [3, 4, 5, 6, 7]);
  assert.ok(scores.every((s) => s.eventId === "snap" && typeof s.ts === "number"));
  assert.equal(client.lastSeq, 7);
});

test("viewers: another fan joining and leaving is counted", async () => {
  await server.createEvent("crowd");
  const a = open("crowd", { id: "fan-a" });
  await waitFor(a, "joined");
  const counts = collect(a, "viewers");
  const b = open("crowd", { id: "fan-b" });
  const joinedB = await waitFor(b, "joined");
  assert.equal(joinedB.viewers, 2);
  await until(() => counts.some((m) => m.count === 2), 3000, "viewers 2");
  b.close();
  await until(() => counts.at(-1)?.count === 1, 3000, "viewers back to 1");
  assert.equal(counts.at(-1).eventId, "crowd");
});

/** Adds up reactions aggregates (a burst may span windows) until `total` reactions are counted. */
async function aggregate(client, total, ms = 3000) {
  const counts = {};
  const comments = [];
  let sum = 0;
  const off = client.on("reactions", (m) => {
    for (const [emoji, n] of Object.entries(m.counts)) {
      counts[emoji] = (counts[emoji] ?? 0) + n;
      sum += n;
    }
    comments.push(...m.comments);
  });
  try {
    await until(() => sum >= total, ms, `${total} reactions`);
    await sleep(250); // more than two windows: nothing else may arrive
  } finally {
    off();
  }
  return { counts, comments, sum };
}

test("reactions from two fans arrive as one aggregate", async () => {
  await server.createEvent("cheer");
  const a = open("cheer", { id: "fan-a" });
  const b = open("cheer", { id: "fan-b" });
  await Promise.all([waitFor(a, "joined"), waitFor(b, "joined")]);
  const result = aggregate(a, 3);
  assert.equal(a.react("🔥", "  what a ball!  "), true);
  assert.equal(b.react("🔥"), true);
  assert.equal(b.react("👏"), true);
  const { counts, comments, sum } = await result;
  assert.equal(sum, 3);
  assert.deepEqual(counts, { "🔥": 2, "👏": 1 });
  assert.deepEqual(comments, [{ id: "fan-a", emoji: "🔥", comment: "what a ball!" }]);
});

test("client-side rate limit: the 11th immediate reaction is refused locally, the server refuses none", async () => {
  await server.createEvent("spam");
  const client = open("spam");
  await waitFor(client, "joined");
  const errors = collect(client, "error");
  const result = aggregate(client, 10);
  const sent = [];
  for (let i = 0; i < 11; i++) sent.push(client.react("👏"));
  assert.deepEqual(sent, [...Array(10).fill(true), false]);
  const { sum } = await result;
  assert.equal(sum, 10);
  assert.deepEqual(errors, [], "the server must not have refused any reaction");
  // The bucket refills at 5 per second, as the server's does.
  assert.equal(client.react("👏"), true);
  assert.equal(client.react("👏"), false);
  await sleep(450);
  assert.equal(client.react("👏"), true);
});

// Frames exactly as the SDK would send them, judged by the server's own parser.
const REACTION_CASES = [
  ["🔥"], ["  🔥  "], ["👍🏽"], ["🇮🇳"], ["❤️"], ["👨‍👩‍👧"], ["🏴󠁧󠁢󠁥󠁮󠁧󠁿"], [":)"], ["<3"],
  ["a".repeat(16)], ["a".repeat(17)], ["🏏".repeat(16)], ["🏏".repeat(17)], [""], ["   "], ["a b"],
  ["a\u00a0b"], ["\u3000🔥\u3000"], ["\u001c🔥"], ["\ufeff🔥"], ["a\u200bb"], ["a\u0007"], ["\u2028"],
  ["\ud83d"], [5], [null],
  ["🔥", "x".repeat(280)], ["🔥", "x".repeat(281)], ["🔥", ` ${"x".repeat(280)} `], ["🔥", "🏏".repeat(280)],
  ["🔥", "🏏".repeat(281)], ["🔥", ""], ["🔥", "   "], ["🔥", "line\nbreak"], ["🔥", "tab\there"],
  ["🔥", "bell\u0007"], ["🔥", "zw\u200bsp"], ["🔥", "fam 👨‍👩‍👧"], ["🔥", 42], ["🔥", null], ["🔥", "\u001f ok"],
];

test("normalizeReaction agrees with the server's parser", () => {
  const frames = REACTION_CASES.map(([emoji, comment]) => {
    const r = normalizeReaction(emoji, comment);
    // A refused reaction is judged in the raw form the app would have sent.
    return JSON.stringify({ type: "reaction", ...(r ?? { emoji, ...(comment === undefined ? {} : { comment }) }) });
  });
  const script = `
import json, sys
from livegate.protocol import ProtocolError, parse_client_frame
out = []
for frame in json.load(sys.stdin):
    try:
        m = parse_client_frame(frame)
        out.append({"emoji": m.emoji, "comment": m.comment})
    except ProtocolError as e:
        out.append(e.code)
print(json.dumps(out))
`;
  const run = spawnSync(PYTHON, ["-c", script], { input: JSON.stringify(frames), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const verdicts = JSON.parse(run.stdout);
  REACTION_CASES.forEach(([emoji, comment], i) => {
    const mine = normalizeReaction(emoji, comment);
    const theirs = verdicts[i];
    const label = JSON.stringify([emoji, comment]);
    if (typeof theirs === "string") {
      assert.equal(mine, null, `${label}: the server refuses it (${theirs})`);
    } else {
      assert.notEqual(mine, null, `${label}: the server accepts it`);
      assert.deepEqual({ emoji: mine.emoji, comment: mine.comment ?? null }, theirs, label);
    }
  });
  // The cases must exercise both sides.
  assert.ok(verdicts.filter((v) => typeof v === "string").length >= 10);
  assert.ok(verdicts.filter((v) => typeof v !== "string").length >= 10);
});

test("connect() accepts exactly the ids and event ids the server accepts", () => {
  const ids = ["fan-1", "Fan 🏏", "x".repeat(128), "x".repeat(129), "🏏".repeat(128), "", "a\u0000b", "a\u200bb",
    "a\u200db", "tab\there", "\u2028", "\ud800", " spaced "];
  const eventIds = ["e1", "A-z_0.9:x", "e".repeat(128), "e".repeat(129), "", "has space", "é", "a/b"];
  const cases = [...ids.map((id) => [id, "e1"]), ...eventIds.map((eventId) => ["fan", eventId])];
  const script = `
import json, sys
from livegate.protocol import ProtocolError, parse_client_frame
out = []
for frame in json.load(sys.stdin):
    try:
        parse_client_frame(frame)
        out.append(True)
    except ProtocolError as e:
        out.append(False)
print(json.dumps(out))
`;
  const frames = cases.map(([id, eventId]) => JSON.stringify({ type: "join", id, eventId }));
  const run = spawnSync(PYTHON, ["-c", script], { input: JSON.stringify(frames), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const verdicts = JSON.parse(run.stdout);
  class Inert {
    addEventListener() {}
    close() {}
  }
  cases.forEach(([id, eventId], i) => {
    let accepted = true;
    try {
      connect(server.ws, { id, eventId, WebSocket: Inert, Worker: null }).close();
    } catch (err) {
      assert.ok(err instanceof TypeError);
      accepted = false;
    }
    assert.equal(accepted, verdicts[i], JSON.stringify([id, eventId]));
  });
  assert.ok(verdicts.includes(true) && verdicts.includes(false));
});

test("react returns false without sending when the reaction is invalid or the client is not joined", async () => {
  await server.createEvent("strict");
  const WS = recordingWebSocket();
  const client = open("strict", { WebSocket: WS });
  assert.equal(client.react("🔥"), false, "not connected yet");
  await waitFor(client, "joined");
  assert.equal(client.react("two words"), false);
  assert.equal(client.react("🔥", "x".repeat(281)), false);
  assert.equal(client.react(""), false);
  assert.equal(client.react("🔥", "ok"), true);
  const reactions = WS.last.sent.filter((m) => m.type === "reaction");
  assert.deepEqual(reactions, [{ type: "reaction", emoji: "🔥", comment: "ok" }]);
});

test("an ended event: 'ended' is emitted and react refuses locally", async () => {
  await server.createEvent("final");
  const client = open("final");
  await waitFor(client, "joined");
  const ended = waitFor(client, "ended");
  await server.endEvent("final");
  assert.deepEqual(await ended, { type: "ended", eventId: "final" });
  assert.equal(client.react("🔥"), false);
  assert.equal(client.state, "connected");
  // A later join sees status ended and refuses too.
  const late = open("final", { id: "late" });
  const joined = await waitFor(late, "joined");
  assert.equal(joined.status, "ended");
  assert.equal(late.react("🔥"), false);
});

test("first connect to an unknown event: 'error' is emitted and the client keeps retrying", async () => {
  const client = open("not-yet");
  const error = await waitFor(client, "error");
  assert.equal(error.type, "error");
  assert.equal(error.code, "unknown_event");
  assert.equal(client.state, "connecting");
  await server.createEvent("not-yet");
  const joined = await waitFor(client, "joined", () => true, 3000);
  assert.equal(joined.eventId, "not-yet");
  assert.equal(client.state, "connected");
});

test("a throwing handler is logged and does not stop the others; off() unsubscribes", async (t) => {
  const logged = t.mock.method(console, "error", () => {});
  await server.createEvent("sturdy");
  const client = open("sturdy");
  const good = [];
  client.on("score", () => {
    throw new Error("app bug");
  });
  const off = client.on("score", (m) => good.push(m.seq));
  await waitFor(client, "joined");
  await server.publish("sturdy", { n: 1 });
  await server.publish("sturdy", { n: 2 });
  await until(() => good.length === 2, 3000, "two scores");
  assert.equal(logged.mock.callCount(), 2);
  assert.equal(client.state, "connected");
  assert.equal(client.lastSeq, 2);
  off();
  off(); // idempotent
  await server.publish("sturdy", { n: 3 });
  await until(() => client.lastSeq === 3, 3000, "seq 3");
  assert.deepEqual(good, [1, 2]);
});

test("close() stops for good", async () => {
  await server.createEvent("bye");
  const WS = recordingWebSocket();
  const client = open("bye", { WebSocket: WS });
  await waitFor(client, "joined");
  const states = [];
  client.on("state", (s, d) => states.push([s, d]));
  client.close();
  client.close();
  assert.equal(client.state, "disconnected");
  assert.deepEqual(states, [["disconnected", { code: 1000, reason: "closed by client" }]]);
  assert.equal(client.react("🔥"), false);
  client.reconnectNow();
  await sleep(400);
  assert.equal(WS.sockets.length, 1);
  assert.equal(client.state, "disconnected");
  const event = await (await fetch(`${server.http}/api/events/bye`)).json();
  assert.equal(event.viewers, 0);
});

test("connect() refuses invalid options at once", () => {
  const ok = { id: "fan", eventId: "e1" };
  const bad = [
    [server.ws, { ...ok, eventId: "has space" }],
    [server.ws, { ...ok, eventId: "" }],
    [server.ws, { ...ok, id: "" }],
    [server.ws, { ...ok, id: "x".repeat(129) }],
    [server.ws, { ...ok, id: "a\u0000b" }],
    [server.ws, { ...ok, token: 7 }],
    [server.ws, { ...ok, token: "🏏".repeat(1000) }], // fine alone, but the join would pass 4096 bytes
    [server.ws, { ...ok, backoff: { base: 0 } }],
    [server.ws, { ...ok, backoff: { base: 2, cap: 1 } }],
    [server.ws, { ...ok, reactionRate: 0 }],
    [server.ws, { ...ok, WebSocket: "nope" }],
    ["/ws", ok], // relative, and no page to resolve it against
    ["ftp://host/ws", ok],
  ];
  for (const [url, options] of bad) {
    assert.throws(() => connect(url, options), TypeError, JSON.stringify([url, options]));
  }
  // id may hold spaces and emoji; an http url is turned into ws.
  const c = connect(server.http + "/ws#frag", { id: "Fan 🏏", eventId: "A-z_0.9:x", Worker: null });
  c.close();
});
