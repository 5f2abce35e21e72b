// Heartbeat: pings keep a connection alive; silence on either side is detected.
// The server runs with --heartbeat-interval 0.3 --heartbeat-timeout 1. The tests
// mostly wait, each on its own event and client, so they run concurrently.

import assert from "node:assert/strict";
import { after, before, describe, mock, test } from "node:test";

import { connect } from "../livegate.js";
import { Server, recordingWebSocket, sleep, until, waitFor } from "../test-support/server.js";
import { BlobWorker, RefusedWorker } from "../test-support/worker.js";

const server = new Server();
const clients = [];

let warn;
before(() => {
  warn = mock.method(console, "warn", () => {}); // expected: "server silent", the CSP fallback
  return server.start();
});
after(() => {
  for (const c of clients) c.close();
  server.kill();
  mock.restoreAll();
});

function open(eventId, options = {}) {
  const client = connect(server.ws, { id: "fan-1", eventId, backoff: { base: 0.05, cap: 0.2 }, ...options });
  clients.push(client);
  return client;
}

/** Watches one client for 2.5 s (2.5 server timeouts) and checks it stayed on one socket. */
async function staysConnected(client, WS) {
  if (client.state !== "connected") await waitFor(client, "joined");
  const states = [];
  client.on("state", (s) => states.push(s));
  await sleep(2500);
  assert.deepEqual(states, [], "the connection must not have dropped");
  assert.equal(client.state, "connected");
  assert.equal(WS.sockets.length, 1);
  const pings = WS.last.sent.filter((m) => m.type === "ping");
  const pongs = WS.last.received.filter((m) => m.type === "pong");
  // One ping per 300 ms: about 8 in 2.5 s.
  assert.ok(pings.length >= 5 && pings.length <= 10, `${pings.length} pings`);
  assert.deepEqual(pings.map((p) => p.t), pings.map((_, i) => i + 1));
  assert.ok(pongs.length >= pings.length - 1, `${pongs.length} pongs for ${pings.length} pings`);
}

describe("heartbeat", { concurrency: true }, () => {
  test("pings keep an idle connection open past the server's timeout", async () => {
    await server.createEvent("idle");
    const WS = recordingWebSocket();
    const client = open("idle", { WebSocket: WS, Worker: null });
    assert.equal(client._timerKind, "main");
    await staysConnected(client, WS);
  });

  test("a client that stops pinging is closed by the server (4000) and resumes without loss", async () => {
    await server.createEvent("mute");
    const WS = recordingWebSocket();
    const client = open("mute", { WebSocket: WS });
    const seqs = [];
    const states = [];
    client.on("score", (m) => seqs.push(m.seq));
    await waitFor(client, "joined");
    client.on("state", (s, d) => states.push([s, d]));
    WS.last.mute = true; // our pings no longer reach the server
    // Publish every 100 ms so the client itself never finds the server silent,
    // before, during and after the server's close.
    let seq = 0;
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      seq = await server.publish("mute", { at: Date.now() });
      await sleep(100);
    }
    await until(() => client.lastSeq === seq && client.state === "connected", 3000, `seq ${seq}`);
    assert.deepEqual(states[0], ["reconnecting", { code: 4000, reason: "heartbeat timeout" }]);
    assert.deepEqual(states.map(([s]) => s), ["reconnecting", "connected"]);
    assert.deepEqual(seqs, Array.from({ length: seq }, (_, i) => i + 1));
    assert.equal(WS.sockets.length, 2);
  });

  test("a server that goes silent is detected after timeoutMs and the client reconnects", async () => {
    await server.createEvent("deaf");
    const WS = recordingWebSocket();
    const client = open("deaf", { WebSocket: WS });
    await waitFor(client, "joined");
    const first = WS.last;
    const silentSince = Date.now();
    first.dropIncoming(() => true); // the server's pongs and scores no longer arrive
    const [state, detail] = await waitFor(client, "state", (s) => s === "reconnecting", 3000);
    const after = Date.now() - silentSince;
    assert.equal(state, "reconnecting");
    assert.equal(detail.code, 1006);
    assert.match(detail.reason, /silent/);
    assert.ok(after >= 1000 && after < 1600, `detected after ${after} ms`);
    assert.notEqual(first.readyState, WebSocket.OPEN, "the dead socket was closed");
    const joined = await waitFor(client, "joined", () => true, 3000);
    assert.equal(joined.recovered, true);
  });

  test("timers run in a Web Worker made from a Blob URL when Worker exists", async () => {
    await server.createEvent("worker");
    const WS = recordingWebSocket();
    const client = open("worker", { WebSocket: WS, Worker: BlobWorker });
    assert.equal(client._timerKind, "worker");
    assert.equal(BlobWorker.instances.length, 1);
    const worker = BlobWorker.instances[0];
    await staysConnected(client, WS);
    assert.equal(client._timerKind, "worker");
    assert.match(worker.source, /setInterval/);
    // A tick every 75 ms (a quarter of the ping interval) for 2.5 s, all from the worker thread.
    assert.ok(worker.fired >= 25, `${worker.fired} timer messages from the worker`);
    client.close();
    assert.equal(worker.terminated, true);
  });

  test("a Worker that cannot start (CSP) falls back to main-thread timers", async () => {
    await server.createEvent("csp");
    const WS = recordingWebSocket();
    const client = open("csp", { WebSocket: WS, Worker: RefusedWorker });
    await until(() => client._timerKind === "main", 1000, "the fallback");
    assert.equal(RefusedWorker.instances, 1);
    assert.ok(warn.mock.calls.some((c) => /refused by CSP/.test(String(c.arguments[0]))));
    await staysConnected(client, WS);
  });
});
