// A server restart: SIGTERM closes viewers with 1012; the restarted server (memory
// store) has forgotten the event until its publisher creates it again.

import assert from "node:assert/strict";
import { after, test } from "node:test";

import { connect } from "../livegate.js";
import { Server, recordingWebSocket, until, waitFor } from "../test-support/server.js";

const servers = [];
const clients = [];

after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.kill();
});

test("reconnect across a server restart: 1012, unknown_event retried, then a reset to the new epoch", async () => {
  const first = new Server();
  servers.push(first);
  await first.start();
  await first.createEvent("match");
  const WS = recordingWebSocket();
  const client = connect(first.ws, { id: "fan-1", eventId: "match", WebSocket: WS, backoff: { base: 0.05, cap: 0.2 } });
  clients.push(client);
  const joins = [];
  const scores = [];
  const states = [];
  const errors = [];
  client.on("joined", (m) => joins.push(m));
  client.on("score", (m) => scores.push(m));
  client.on("error", (e) => errors.push(e));
  await waitFor(client, "joined");
  client.on("state", (s, d) => states.push([s, d]));
  for (let i = 1; i <= 3; i++) await first.publish("match", { i });
  await until(() => client.lastSeq === 3, 3000, "seq 3");
  const oldEpoch = joins[0].epoch;

  await first.stop();
  await until(() => states.length > 0, 2000, "the close");
  assert.deepEqual(states, [["reconnecting", { code: 1012, reason: "server restart" }]]);

  const second = new Server({ port: first.port });
  servers.push(second);
  await second.start();
  // The client keeps trying; its joins are refused until the event exists again.
  await until(
    () => WS.sockets.some((ws) => ws.received.some((m) => m.type === "error" && m.code === "unknown_event")),
    5000,
    "a join refused with unknown_event",
  );
  assert.equal(client.state, "reconnecting");
  assert.deepEqual(errors, [], "a refused rejoin is retried, not reported");

  // Hold the client off while the publisher recreates the event and gets ahead of
  // the client's old position: the new history reaches seq 5 > lastSeq 3, so only
  // the epoch tells the server that seq 4 and 5 are not what the client missed.
  WS.offline = true;
  const attempts = WS.created.length;
  await until(() => WS.created.length > attempts, 3000, "an attempt while offline"); // none in flight now
  await second.createEvent("match");
  for (let i = 1; i <= 5; i++) await second.publish("match", { i: `new-${i}` });
  WS.offline = false;
  client.reconnectNow();
  const joined = await waitFor(client, "joined", () => true, 3000);
  assert.equal(joined.recovered, false);
  assert.deepEqual(joined.missed, []);
  assert.notEqual(joined.epoch, oldEpoch);
  assert.equal(joined.seq, 5);
  assert.deepEqual(joined.snapshot, { i: "new-5" });
  assert.equal(client.lastSeq, 5, "reset to the new history");
  assert.equal(client.state, "connected");
  const join = WS.last.sent.find((m) => m.type === "join");
  assert.deepEqual(join, { type: "join", id: "fan-1", eventId: "match", since: 3, epoch: oldEpoch });

  await second.publish("match", { i: "new-6" });
  await until(() => client.lastSeq === 6, 3000, "the new seq 6");
  assert.deepEqual(scores.map((s) => [s.seq, s.data.i]), [[1, 1], [2, 2], [3, 3], [6, "new-6"]]);
  assert.deepEqual(states.map(([s]) => s), ["reconnecting", "connected"]);
});

test("after a restart, seq 1 of the new epoch is emitted although the old lastSeq was 3", async () => {
  const first = new Server();
  servers.push(first);
  await first.start();
  await first.createEvent("again");
  const client = connect(first.ws, { id: "fan-1", eventId: "again", backoff: { base: 0.05, cap: 0.2 } });
  clients.push(client);
  const scores = [];
  client.on("score", (m) => scores.push(m));
  await waitFor(client, "joined");
  for (let i = 1; i <= 3; i++) await first.publish("again", { i });
  await until(() => client.lastSeq === 3, 3000, "seq 3");
  await first.stop();
  const second = new Server({ port: first.port });
  servers.push(second);
  await second.start();
  await second.createEvent("again");
  const joined = await waitFor(client, "joined", () => true, 3000);
  assert.equal(joined.recovered, false);
  assert.equal(client.lastSeq, joined.seq);
  // seq 1 of the new epoch is below the old lastSeq, yet it is new: it must be emitted.
  await second.publish("again", { i: "new-1" });
  await until(() => scores.length === 4, 3000, "the new seq 1");
  assert.deepEqual(scores.map((s) => [s.seq, s.data.i]), [[1, 1], [2, 2], [3, 3], [1, "new-1"]]);
});
