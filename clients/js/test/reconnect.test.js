// Resume after a drop, gap recovery, no reconnect after 1008, backoff timing.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Backoff, connect } from "../livegate.js";
import { Server, freePort, recordingWebSocket, seededRandom, sleep, until, waitFor } from "../test-support/server.js";

const server = new Server();
const servers = [server];
const clients = [];

before(() => server.start());
after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.kill();
});

function open(url, eventId, options = {}) {
  const client = connect(url, { id: "fan-1", eventId, ...options });
  clients.push(client);
  return client;
}

test("resume after a dropped connection: every seq exactly once, in order", async () => {
  await server.createEvent("drop");
  const WS = recordingWebSocket();
  // A long backoff, so that only reconnectNow() can bring the client back in time.
  const client = open(server.ws, "drop", { WebSocket: WS, backoff: { base: 5, cap: 5 }, random: () => 0.9 });
  const seqs = [];
  const joins = [];
  const states = [];
  client.on("score", (m) => seqs.push(m.seq));
  client.on("joined", (m) => joins.push(m));
  client.on("state", (s, d) => states.push([s, d]));
  await waitFor(client, "joined");
  for (let i = 1; i <= 3; i++) await server.publish("drop", { i });
  await until(() => client.lastSeq === 3, 3000, "seq 3");

  WS.offline = true;
  WS.last.close(); // the network drops this socket
  await until(() => client.state === "reconnecting", 3000, "reconnecting");
  for (let i = 4; i <= 8; i++) await server.publish("drop", { i });
  client.reconnectNow(); // still offline: the attempt fails and waits again
  assert.equal(WS.sockets.length, 1);
  assert.equal(client.state, "reconnecting");
  WS.offline = false;
  client.reconnectNow();
  await until(() => joins.length === 2, 2000, "the resume's joined");
  for (let i = 9; i <= 10; i++) await server.publish("drop", { i });
  await until(() => client.lastSeq === 10, 3000, "seq 10");

  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const resumeJoin = WS.last.sent.find((m) => m.type === "join");
  assert.deepEqual(resumeJoin, { type: "join", id: "fan-1", eventId: "drop", since: 3, epoch: joins[0].epoch });
  assert.equal(joins[1].recovered, true);
  assert.deepEqual(joins[1].missed.map((m) => m.seq), [4, 5, 6, 7, 8]);
  assert.equal(WS.sockets.length, 2);
  assert.deepEqual(
    states.map(([s]) => s),
    ["connected", "reconnecting", "connected"],
  );
  assert.equal(states[1][1].code, 1000);
  assert.deepEqual(states[2][1], { recovered: true });
});

test("a seq that skips ahead makes the client rejoin on the same socket and fill the gap", async (t) => {
  t.mock.method(console, "warn", () => {});
  await server.createEvent("gap");
  const WS = recordingWebSocket();
  const client = open(server.ws, "gap", { WebSocket: WS });
  const seqs = [];
  const joins = [];
  client.on("score", (m) => seqs.push(m.seq));
  client.on("joined", (m) => joins.push(m));
  await waitFor(client, "joined");
  // Lose seq 2 on the way in (a buggy proxy, a broken backend).
  WS.last.dropIncoming((m) => m.type === "score" && m.seq === 2);
  for (let i = 1; i <= 4; i++) await server.publish("gap", { i });
  await until(() => client.lastSeq === 4, 3000, "seq 4");
  await sleep(100);
  assert.deepEqual(seqs, [1, 2, 3, 4]);
  assert.equal(WS.sockets.length, 1);
  assert.equal(joins.length, 2);
  assert.equal(joins[1].recovered, true);
  assert.ok(WS.last.sent.some((m) => m.type === "join" && m.since === 1 && m.epoch === joins[0].epoch));
});

test("a score delivered twice is emitted once", async () => {
  await server.createEvent("twice");
  const WS = recordingWebSocket();
  const client = open(server.ws, "twice", { WebSocket: WS });
  const seqs = [];
  client.on("score", (m) => seqs.push(m.seq));
  await waitFor(client, "joined");
  WS.last.repeatIncoming((m) => m.type === "score");
  for (let i = 1; i <= 3; i++) await server.publish("twice", { i });
  await until(() => client.lastSeq === 3, 3000, "seq 3");
  await sleep(50);
  assert.deepEqual(seqs, [1, 2, 3]);
});

test("after close code 1008 the client stops: state disconnected, an 'error', no reconnect", async () => {
  await server.createEvent("bad-input");
  const WS = recordingWebSocket();
  const client = open(server.ws, "bad-input", { WebSocket: WS, backoff: { base: 0.01, cap: 0.02 } });
  await waitFor(client, "joined");
  const errors = [];
  const states = [];
  client.on("error", (e) => errors.push(e));
  client.on("state", (s, d) => states.push([s, d]));
  for (let i = 0; i < 10; i++) assert.equal(client._sendRaw("not json"), true);
  await until(() => client.state === "disconnected", 3000, "disconnected");
  assert.deepEqual(states, [["disconnected", { code: 1008, reason: "too much bad input in a row" }]]);
  assert.equal(errors.filter((e) => e.code === "bad_json").length, 10);
  const closed = errors.at(-1);
  assert.equal(closed.code, "closed");
  assert.equal(closed.closeCode, 1008);
  client.reconnectNow();
  await sleep(300);
  assert.equal(WS.sockets.length, 1, "no reconnect after 1008");
  assert.equal(client.react("🔥"), false);
  assert.equal(client._sendRaw("x"), false);
});

test("Backoff: random() * min(cap, base * 2**attempt)", () => {
  const b = new Backoff({ base: 0.5, cap: 20 });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((n) => b.ceiling(n)), [0.5, 1, 2, 4, 8, 16, 20, 20]);
  assert.equal(b.ceiling(5000), 20);
  const random = seededRandom(42);
  const expected = seededRandom(42);
  for (let n = 0; n < 10; n++) {
    const d = b.delay(n, random);
    assert.equal(d, expected() * Math.min(20, 0.5 * 2 ** n));
    assert.ok(d >= 0 && d < b.ceiling(n));
  }
  assert.deepEqual({ ...new Backoff() }, { base: 0.5, cap: 20 });
});

test("reconnect delays follow the seeded backoff, and the attempt count restarts after a join", async () => {
  const port = await freePort(); // nothing listens here yet
  const WS = recordingWebSocket();
  const draws = [];
  const seeded = seededRandom(7);
  let fixed = null;
  const random = () => {
    const r = fixed ?? seeded();
    draws.push(r);
    return r;
  };
  const base = 0.04;
  const cap = 0.32;
  const client = open(`ws://127.0.0.1:${port}/ws`, "later", { WebSocket: WS, backoff: { base, cap }, random });
  const errors = [];
  client.on("error", (e) => errors.push(e));
  await until(() => WS.created.length >= 7, 5000, "7 attempts");
  assert.equal(client.state, "connecting");
  assert.deepEqual(errors, [], "a network failure is not a server error");
  for (let n = 0; n < 6; n++) {
    const gap = WS.created[n + 1] - WS.created[n];
    const delay = draws[n] * Math.min(cap, base * 2 ** n) * 1000;
    assert.ok(gap >= delay - 2 && gap <= delay + 80, `attempt ${n}: waited ${gap} ms for a delay of ${delay} ms`);
  }

  // Now a server appears; the next join succeeds, and a drop after it waits
  // attempt 0's delay again (40 ms with random() = 0.99), not attempt 7's (317 ms).
  const late = new Server({ port });
  servers.push(late);
  await late.start();
  await late.createEvent("later");
  await waitFor(client, "joined", () => true, 3000);
  const before = draws.length;
  fixed = 0.99;
  const socketsBefore = WS.sockets.length;
  const dropAt = Date.now();
  WS.last.close();
  await until(() => client.state === "connected" && WS.sockets.length === socketsBefore + 1, 3000, "rejoined");
  assert.equal(draws.length, before + 1);
  const gap = WS.created.at(-1) - dropAt;
  const delay = draws.at(-1) * base * 1000;
  assert.ok(gap >= delay - 2 && gap <= delay + 80, `after a join: waited ${gap} ms for a delay of ${delay} ms`);
  late.kill();
});
