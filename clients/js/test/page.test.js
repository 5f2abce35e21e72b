// The browser page hooks: `online` reconnects at once, `visibilitychange` to
// visible pings at once. The page's window and document are stand-ins
// (EventTargets) installed before connect(), as a browser would provide them.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { connect } from "../livegate.js";
import { Server, recordingWebSocket, sleep, until, waitFor } from "../test-support/server.js";

const server = new Server();
const clients = [];
const page = { window: new EventTarget(), document: Object.assign(new EventTarget(), { visibilityState: "visible" }) };

before(async () => {
  globalThis.window = page.window;
  globalThis.document = page.document;
  await server.start();
});
after(() => {
  for (const c of clients) c.close();
  delete globalThis.window;
  delete globalThis.document;
  server.kill();
});

function open(eventId, options = {}) {
  const client = connect(server.ws, { id: "fan-1", eventId, ...options });
  clients.push(client);
  return client;
}

test("the browser's online event ends the backoff wait at once", async () => {
  await server.createEvent("online");
  const WS = recordingWebSocket();
  // Every wait would be 27 s.
  const client = open("online", { WebSocket: WS, backoff: { base: 30, cap: 30 }, random: () => 0.9 });
  await waitFor(client, "joined");
  WS.last.close();
  await until(() => client.state === "reconnecting", 2000, "reconnecting");
  await sleep(100);
  assert.equal(WS.sockets.length, 1, "waiting out the backoff");
  page.window.dispatchEvent(new Event("online"));
  const joined = await waitFor(client, "joined", () => true, 2000);
  assert.equal(joined.recovered, true);
  assert.equal(WS.sockets.length, 2);
  // While connected, online changes nothing.
  page.window.dispatchEvent(new Event("online"));
  await sleep(100);
  assert.equal(WS.sockets.length, 2);
  assert.equal(client.state, "connected");
});

test("visibilitychange to visible pings at once; hidden does not", async () => {
  await server.createEvent("visible");
  const WS = recordingWebSocket();
  const client = open("visible", { WebSocket: WS });
  await waitFor(client, "joined");
  const pings = () => WS.last.sent.filter((m) => m.type === "ping").length;
  const before = pings();
  page.document.visibilityState = "hidden";
  page.document.dispatchEvent(new Event("visibilitychange"));
  assert.equal(pings(), before);
  page.document.visibilityState = "visible";
  page.document.dispatchEvent(new Event("visibilitychange"));
  assert.equal(pings(), before + 1, "a ping is sent synchronously");
  await until(() => WS.last.received.some((m) => m.type === "pong" && m.t === before + 1), 1000, "its pong");
});

/** A timer worker that starts and then never fires: a frozen tab's timers. */
class FrozenWorker extends EventTarget {
  constructor() {
    super();
    this.requests = 0;
    setTimeout(() => this.dispatchEvent(new MessageEvent("message", { data: "ready" })), 0);
  }

  postMessage() {
    this.requests += 1;
  }

  terminate() {}
}

test("visibilitychange to visible after a long silence reconnects at once", async (t) => {
  t.mock.method(console, "warn", () => {});
  await server.createEvent("asleep");
  const WS = recordingWebSocket();
  const client = open("asleep", { WebSocket: WS, Worker: FrozenWorker });
  await waitFor(client, "joined");
  assert.equal(client._timerKind, "worker");
  WS.last.dropIncoming(() => true);
  // Past timeoutMs with nothing heard, and no tick to notice. (The test pings by
  // hand, or the server would close the socket for the client's silence.)
  for (let i = 0; i < 4; i++) {
    await sleep(300);
    client._sendRaw('{"type":"ping"}');
  }
  assert.equal(client.state, "connected");
  page.document.dispatchEvent(new Event("visibilitychange"));
  assert.equal(client.state, "reconnecting");
  assert.notEqual(WS.last.readyState, WebSocket.OPEN);
});

test("close() removes the page listeners", async () => {
  await server.createEvent("gone");
  const WS = recordingWebSocket();
  const client = open("gone", { WebSocket: WS });
  await waitFor(client, "joined");
  client.close();
  const states = [];
  client.on("state", (s) => states.push(s));
  page.window.dispatchEvent(new Event("online"));
  page.document.dispatchEvent(new Event("visibilitychange"));
  await sleep(100);
  assert.equal(WS.sockets.length, 1);
  assert.equal(WS.last.sent.filter((m) => m.type === "ping").length <= 1, true);
  assert.deepEqual(states, []);
});
