// Viewer tokens (protocol section 2.5): joining with a token, getToken before every
// attempt, refresh before expiry, 4001 and forbidden, verified comments. Two real
// servers: one in the default `optional` mode, one with `--viewer-auth required`.
// Tokens are minted here as the product's backend would: HS256 with the secret the
// servers are started with, so an exp a couple of seconds ahead costs nothing.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, test } from "node:test";

import { connect } from "../livegate.js";
import { Server, recordingWebSocket, sleep, until, waitFor } from "../test-support/server.js";

const SECRET = "js-sdk-test-token-secret-0123456789abcdef";
const WRONG_SECRET = "not-the-servers-secret-0123456789abcdef";
const env = { LIVEGATE_TOKEN_HMAC_SECRET: SECRET };
const server = new Server({ env });
const required = new Server({ env, args: ["--viewer-auth", "required"] });
const clients = [];

before(() => Promise.all([server.start(), required.start()]));
after(() => {
  for (const c of clients) c.close();
  server.kill();
  required.kill();
});

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An HS256 JWT; `ttl` seconds (null: no exp). exp is whole seconds, as the server's mint. */
function mint({ sub, ttl = 600, events, name, secret = SECRET }) {
  const claims = { sub };
  if (ttl !== null) claims.exp = Math.floor(Date.now() / 1000) + ttl;
  if (events !== undefined) claims.events = events;
  if (name !== undefined) claims.name = name;
  const signed = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${signed}.${createHmac("sha256", secret).update(signed).digest("base64url")}`;
}

const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

function open(eventId, options = {}, on = server) {
  const client = connect(on.ws, { eventId, backoff: { base: 0.05, cap: 0.2 }, ...options });
  clients.push(client);
  return client;
}

function collect(client, type) {
  const seen = [];
  client.on(type, (...args) => seen.push(args.length > 1 ? args : args[0]));
  return seen;
}

const codes = (errors) => errors.map((e) => (e.code === "closed" ? `closed ${e.closeCode}` : e.code));

test("options: id may be left out with a token or getToken; bad token options throw at once", () => {
  const ok = (options) => {
    const client = connect(server.ws, { eventId: "opts", ...options });
    client.close();
  };
  ok({ token: mint({ sub: "fan-opts" }) });
  ok({ getToken: () => null, id: "fan-opts" });
  ok({ getToken: async () => "token" });
  const refused = (options, pattern) =>
    assert.throws(() => connect(server.ws, { eventId: "opts", ...options }), { name: "TypeError", message: pattern });
  refused({}, /id is required/);
  refused({ id: null, token: null }, /id is required/);
  refused({ token: "a", getToken: () => "b" }, /token or getToken, not both/);
  refused({ getToken: "eyJ..." }, /getToken must be a function/);
  refused({ token: "" }, /bad token/);
  refused({ token: "pässe" }, /bad token: it is not an ASCII string/);
  refused({ token: "t".repeat(2049) }, /bad token/);
  refused({ token: 42 }, /bad token: it is a number/);
  refused({ id: "", token: "t" }, /id must be a string/);
  refused({ id: "x".repeat(129), getToken: () => null }, /id must be a string/);
});

test("a token without id joins as the token's sub, with its name and expiresIn", async () => {
  await server.createEvent("tok-join");
  const WS = recordingWebSocket();
  const token = mint({ sub: "fan-asha", name: "Asha", ttl: 600 });
  const client = open("tok-join", { token, WebSocket: WS });
  const joined = await waitFor(client, "joined");
  assert.equal(joined.viewer.id, "fan-asha");
  assert.equal(joined.viewer.name, "Asha");
  assert.ok(joined.viewer.expiresIn > 590 && joined.viewer.expiresIn <= 600, `expiresIn ${joined.viewer.expiresIn}`);
  assert.deepEqual(WS.last.sent[0], { type: "join", eventId: "tok-join", token });
  assert.equal(client.state, "connected");
});

test("a join outside the token's events is refused with forbidden: told once, never retried", async () => {
  await server.createEvent("other-match");
  const WS = recordingWebSocket();
  const client = open("other-match", { token: mint({ sub: "fan-ipl", events: ["ipl-*"] }), WebSocket: WS });
  const errors = collect(client, "error");
  const states = collect(client, "state");
  await until(() => client.state === "disconnected", 3000, "disconnected");
  assert.deepEqual(codes(errors), ["forbidden"]);
  assert.deepEqual(states, [["disconnected", { code: 1000, reason: "join refused: forbidden" }]]);
  await sleep(500); // several backoff periods: nothing more
  assert.equal(WS.created.length, 1);
  assert.equal(WS.last.readyState, WebSocket.CLOSED);
  assert.deepEqual(codes(errors), ["forbidden"]);
});

test("a private event: getToken's null (anonymous) is forbidden and stops; a token naming it joins", async () => {
  await server.createEvent("ipl-private", "Members only", { private: true });
  let calls = 0;
  const WS = recordingWebSocket();
  const anonymous = open("ipl-private", {
    id: "fan-anon",
    getToken: () => {
      calls += 1;
      return null;
    },
    WebSocket: WS,
  });
  const errors = collect(anonymous, "error");
  await until(() => anonymous.state === "disconnected", 3000, "disconnected");
  assert.deepEqual(WS.last.sent[0], { type: "join", id: "fan-anon", eventId: "ipl-private" });
  assert.deepEqual(codes(errors), ["forbidden"]);
  await sleep(400);
  assert.equal(calls, 1, "not retried, so getToken is not asked again");
  assert.equal(WS.created.length, 1);

  const member = open("ipl-private", { token: mint({ sub: "fan-member", events: ["ipl-*"] }) });
  const joined = await waitFor(member, "joined");
  assert.equal(joined.title, "Members only");
  assert.equal(joined.viewer.id, "fan-member");
});

test("getToken is called before every connection attempt; a failure is a retried attempt", async () => {
  await server.createEvent("tok-every");
  const WS = recordingWebSocket();
  const issued = [];
  let failNext = false;
  const client = open("tok-every", {
    WebSocket: WS,
    getToken: async () => {
      if (failNext) {
        failNext = false;
        throw new Error("backend down");
      }
      const token = mint({ sub: "fan-every", name: `pass ${issued.length + 1}` });
      issued.push(token);
      return token;
    },
  });
  const errors = collect(client, "error");
  const joins = collect(client, "joined");
  await until(() => joins.length === 1, 3000, "the first joined");
  assert.equal(issued.length, 1);
  assert.deepEqual(WS.sockets[0].sent[0], { type: "join", eventId: "tok-every", token: issued[0] });

  WS.last.close(); // the network drops
  await until(() => joins.length === 2, 3000, "the second joined");
  assert.equal(issued.length, 2);
  const resume = WS.sockets[1].sent[0];
  assert.equal(resume.token, issued[1]);
  assert.equal(resume.since, 0);
  assert.equal(joins[1].viewer.name, "pass 2");

  failNext = true; // the product's backend fails once
  WS.last.close();
  await until(() => joins.length === 3, 3000, "the third joined");
  assert.equal(issued.length, 3);
  assert.equal(WS.sockets.length, 3, "no socket is opened without a token");
  assert.equal(WS.sockets[2].sent[0].token, issued[2]);
  assert.equal(joins[2].viewer.name, "pass 3");
  assert.deepEqual(codes(errors), ["token_unavailable"]);
  assert.match(errors[0].message, /getToken failed: backend down/);
  assert.equal(client.state, "connected");
});

test("a getToken that never answers is given up after openTimeout and asked again", async () => {
  await server.createEvent("tok-hang");
  let calls = 0;
  const client = open("tok-hang", {
    openTimeout: 0.3,
    getToken: () => {
      calls += 1;
      return calls === 1 ? new Promise(() => {}) : mint({ sub: "fan-hang" });
    },
  });
  const errors = collect(client, "error");
  const joined = await waitFor(client, "joined", () => true, 3000);
  assert.equal(joined.viewer.id, "fan-hang");
  assert.equal(calls, 2);
  assert.deepEqual(codes(errors), ["token_unavailable"]);
  assert.match(errors[0].message, /did not answer within 300 ms/);
});

test("getToken returning null without an id cannot join: token_unavailable, retried", async () => {
  let calls = 0;
  const WS = recordingWebSocket();
  const client = open("tok-nobody", {
    WebSocket: WS,
    getToken: () => {
      calls += 1;
      return calls === 1 ? null : 7; // then not even a string
    },
  });
  const errors = collect(client, "error");
  await until(() => calls >= 3, 3000, "three attempts");
  assert.equal(WS.created.length, 0);
  assert.equal(client.state, "connecting");
  assert.ok(errors.length >= 2);
  assert.ok(errors.every((e) => e.code === "token_unavailable"));
  assert.match(errors[0].message, /no token, and without an id/);
  assert.match(errors[1].message, /bad token: it is a number, not a string/);
});

test("refresh before expiry keeps the connection past the first token's exp", async () => {
  await server.createEvent("tok-refresh");
  const WS = recordingWebSocket();
  const issued = [];
  const client = open("tok-refresh", {
    WebSocket: WS,
    getToken: async () => {
      const token = mint({ sub: "fan-refresh", ttl: 3 });
      issued.push(token);
      return token;
    },
  });
  const refreshed = collect(client, "refreshed");
  const states = collect(client, "state");
  const errors = collect(client, "error");
  const joined = await waitFor(client, "joined");
  const firstExp = claimsOf(issued[0]).exp;
  assert.ok(joined.viewer.expiresIn >= 1 && joined.viewer.expiresIn <= 3, `expiresIn ${joined.viewer.expiresIn}`);

  await until(() => refreshed.length >= 1, 4000, "refreshed");
  assert.equal(refreshed[0].type, "refreshed");
  assert.ok(refreshed[0].expiresIn >= 1 && refreshed[0].expiresIn <= 3, `expiresIn ${refreshed[0].expiresIn}`);
  const refreshes = WS.sockets[0].sent.filter((m) => m.type === "refresh");
  assert.deepEqual(refreshes[0], { type: "refresh", token: issued[1] });

  // Well past the first token's expiry (the server checks about every 0.1 s here).
  await until(() => Date.now() / 1000 > firstExp + 1.5, 6000, "the first token's exp");
  assert.equal(client.state, "connected");
  assert.equal(WS.sockets.length, 1, "the same connection throughout");
  assert.deepEqual(states, [["connected", { recovered: null }]]);
  assert.deepEqual(errors, []);
  assert.ok(refreshed.length >= 2, `refreshed ${refreshed.length} times`); // each new token is refreshed too
  const next = waitFor(client, "score", () => true, 2000); // subscribed before it can arrive
  const seq = await server.publish("tok-refresh", { still: "here" });
  const score = await next;
  assert.equal(score.seq, seq);
  assert.deepEqual(score.data, { still: "here" });
});

test("a seq-gap rejoin carries the current token, the refreshed one after a refresh", async (t) => {
  t.mock.method(console, "warn", () => {});
  await server.createEvent("tok-gap");
  const WS = recordingWebSocket();
  const client = open("tok-gap", { WebSocket: WS, getToken: () => mint({ sub: "fan-gap", ttl: 3 }) });
  const joins = collect(client, "joined");
  await waitFor(client, "joined");
  await waitFor(client, "refreshed", () => true, 4000);
  WS.last.dropIncoming((m) => m.type === "score" && m.seq === 1);
  await server.publish("tok-gap", { n: 1 });
  await server.publish("tok-gap", { n: 2 });
  await until(() => client.lastSeq === 2, 3000, "seq 2 through the rejoin");
  assert.equal(joins.length, 2);
  const sent = WS.last.sent;
  const rejoinAt = sent.findIndex((m, i) => i > 0 && m.type === "join");
  const lastRefresh = sent.slice(0, rejoinAt).filter((m) => m.type === "refresh").at(-1);
  assert.equal(sent[rejoinAt].since, 0);
  assert.equal(sent[rejoinAt].token, lastRefresh.token);
  assert.notEqual(sent[rejoinAt].token, sent[0].token);
});

test("a static token that expires: token_expired, 4001, and the client stops", async () => {
  await server.createEvent("tok-static");
  const WS = recordingWebSocket();
  const client = open("tok-static", { token: mint({ sub: "fan-static", ttl: 3 }), WebSocket: WS });
  const errors = collect(client, "error");
  const states = collect(client, "state");
  const joined = await waitFor(client, "joined");
  assert.ok(joined.viewer.expiresIn >= 1 && joined.viewer.expiresIn <= 3, `expiresIn ${joined.viewer.expiresIn}`);
  await until(() => client.state === "disconnected", 5000, "disconnected");
  assert.deepEqual(states.map(([s, d]) => [s, d.code ?? null]), [["connected", null], ["disconnected", 4001]]);
  assert.deepEqual(codes(errors), ["token_expired", "closed 4001"]);
  assert.ok(WS.last.sent.every((m) => m.type !== "refresh"), "nothing to refresh a static token with");
  await sleep(400);
  assert.equal(WS.created.length, 1);
});

test("with getToken, one 4001 (a refreshed token refused) reconnects with a fresh token", async () => {
  await server.createEvent("tok-once");
  const WS = recordingWebSocket();
  let calls = 0;
  const client = open("tok-once", {
    WebSocket: WS,
    getToken: () => {
      calls += 1;
      if (calls === 1) return mint({ sub: "fan-once", ttl: 3 });
      if (calls === 2) return mint({ sub: "fan-once", secret: WRONG_SECRET }); // the refresh's
      return mint({ sub: "fan-once", name: "again" });
    },
  });
  const errors = collect(client, "error");
  const states = collect(client, "state");
  const joins = collect(client, "joined");
  await until(() => joins.length === 2, 5000, "the join after the 4001");
  assert.equal(calls, 3);
  assert.equal(joins[1].viewer.name, "again");
  assert.deepEqual(codes(errors), ["bad_token"]);
  assert.deepEqual(states.map(([s, d]) => [s, d.code ?? null]), [
    ["connected", null],
    ["reconnecting", 4001],
    ["connected", null],
  ]);
  assert.equal(WS.sockets[0].sent.filter((m) => m.type === "refresh").length, 1);
  assert.equal(WS.sockets.length, 2);
});

test("getToken giving refused tokens twice in a row: the client stops", async () => {
  await server.createEvent("tok-bad");
  const WS = recordingWebSocket();
  let calls = 0;
  const client = open("tok-bad", {
    WebSocket: WS,
    getToken: () => {
      calls += 1;
      return mint({ sub: "fan-bad", secret: WRONG_SECRET });
    },
  });
  const errors = collect(client, "error");
  const states = collect(client, "state");
  await until(() => client.state === "disconnected", 3000, "disconnected");
  assert.deepEqual(codes(errors), ["bad_token", "bad_token", "closed 4001"]);
  assert.deepEqual(states.map(([s, d]) => [s, d.code]), [["disconnected", 4001]]);
  await sleep(400);
  assert.equal(calls, 2);
  assert.equal(WS.created.length, 2);
});

test("viewer-auth required: a join without a token gets token_required and 4001, and stops", async () => {
  await required.createEvent("req-match");
  const WS = recordingWebSocket();
  const anonymous = open("req-match", { id: "fan-anon", WebSocket: WS }, required);
  const errors = collect(anonymous, "error");
  await until(() => anonymous.state === "disconnected", 3000, "disconnected");
  assert.deepEqual(codes(errors), ["token_required", "closed 4001"]);
  await sleep(300);
  assert.equal(WS.created.length, 1);

  const member = open("req-match", { getToken: async () => mint({ sub: "fan-req" }) }, required);
  const joined = await waitFor(member, "joined");
  assert.equal(joined.viewer.id, "fan-req");
});

test("reactions: a token holder's comment is verified and carries its name; an anonymous one is not", async () => {
  await server.createEvent("tok-cheer");
  const fan = open("tok-cheer", { token: mint({ sub: "fan-asha", name: "Asha" }) });
  const anonymous = open("tok-cheer", { id: "fan-anon" });
  await Promise.all([waitFor(fan, "joined"), waitFor(anonymous, "joined")]);
  const comments = [];
  anonymous.on("reactions", (m) => comments.push(...m.comments));
  assert.equal(fan.react("🔥", "verified cheer"), true);
  assert.equal(anonymous.react("👏", "anonymous cheer"), true);
  await until(() => comments.length === 2, 3000, "both comments");
  comments.sort((a, b) => a.id.localeCompare(b.id));
  assert.deepEqual(comments, [
    { id: "fan-anon", emoji: "👏", comment: "anonymous cheer" },
    { id: "fan-asha", emoji: "🔥", comment: "verified cheer", verified: true, name: "Asha" },
  ]);
});
