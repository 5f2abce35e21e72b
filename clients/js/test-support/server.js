// Test support: a real livegate server per test file, and small helpers.
//
// Lives outside test/ on purpose: `node --test <dir>` runs every .js file under a
// directory named test/ as a test file, helpers included.

import { spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const PYTHON = process.env.LIVEGATE_PYTHON || `${REPO}.venv/bin/python`;
export const API_KEY = "js-sdk-test-key-0123";

/** A TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Every server process this test file started, so none outlives it: after() kills
// them, and so does this process's exit, even after a crash or an interrupt.
const live = new Set();
process.on("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    for (const proc of live) proc.kill("SIGKILL");
    process.kill(process.pid, signal);
  });
}

/**
 * A livegate server process. `start()` spawns it and resolves once it accepts TCP;
 * `stop()` sends SIGTERM and resolves when it exited; `kill()` is for after().
 * `args` are extra command-line flags, `env` extra environment variables (secrets
 * such as LIVEGATE_TOKEN_HMAC_SECRET go there, as the docs advise).
 */
export class Server {
  constructor({ port, args = [], env = {} } = {}) {
    this.port = port;
    this.args = args;
    this.env = env;
    this.proc = null;
    this.output = "";
    this.exited = null;
  }

  get http() {
    return `http://127.0.0.1:${this.port}`;
  }

  get ws() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  async start() {
    if (this.port === undefined) this.port = await freePort();
    const proc = spawn(
      PYTHON,
      [
        "-m", "livegate", "serve",
        "--host", "127.0.0.1",
        "--port", String(this.port),
        "--api-key", API_KEY,
        "--heartbeat-interval", "0.3",
        "--heartbeat-timeout", "1",
        "--reaction-window", "0.1",
        "--drain-window", "0.2",
        "--log-level", "warning",
        "--engine", "memory://",
        ...this.args,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...this.env } },
    );
    this.proc = proc;
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    proc.stdout.on("data", (d) => (this.output += d));
    proc.stderr.on("data", (d) => (this.output += d));
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
    let dead = false;
    this.exited.then(() => (dead = true));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (dead) throw new Error(`livegate server exited at start:\n${this.output}`);
      if (await canConnect(this.port)) return this;
      await sleep(50);
    }
    this.kill();
    throw new Error(`livegate server did not listen within 10 s:\n${this.output}`);
  }

  /** Graceful shutdown (SIGTERM: viewers are closed with 1012); resolves on exit. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  kill() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGKILL");
    }
  }

  async api(method, path, body) {
    const res = await fetch(this.http + path, {
      method,
      headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  createEvent(eventId, title = eventId, extra = {}) {
    return this.api("PUT", `/api/events/${eventId}`, { sport: "generic", title, ...extra });
  }

  /** Publish `data`; resolves to the seq the server gave it. */
  async publish(eventId, data) {
    const { seq } = await this.api("POST", `/api/events/${eventId}/updates`, data);
    return seq;
  }

  endEvent(eventId) {
    return this.api("POST", `/api/events/${eventId}/end`);
  }
}

/**
 * A WebSocket class to inject into the SDK, recording every socket it makes.
 * Faults: `Recorder.offline` makes the constructor throw (no network);
 * `ws.mute` drops what the client sends; `ws.dropIncoming(pred)` hides server
 * messages from the client; `ws.repeatIncoming(pred)` delivers them twice. `ws.sent` and `ws.received` are the parsed frames.
 */
export function recordingWebSocket(Base = globalThis.WebSocket) {
  class Recorder extends Base {
    static sockets = [];
    static offline = false;
    static created = []; // Date.now() of every construction attempt, failed ones included

    constructor(url, protocols) {
      Recorder.created.push(Date.now());
      if (Recorder.offline) throw new Error("test: offline");
      super(url, protocols);
      this.sent = [];
      this.received = [];
      this.mute = false;
      this.dropPredicate = null;
      this.repeatPredicate = null;
      Recorder.sockets.push(this);
    }

    send(data) {
      let parsed;
      try {
        parsed = JSON.parse(data);
      } catch {
        parsed = data; // a raw frame sent on purpose
      }
      this.sent.push(parsed);
      if (!this.mute) super.send(data);
    }

    dropIncoming(pred) {
      this.dropPredicate = pred;
    }

    repeatIncoming(pred) {
      this.repeatPredicate = pred;
    }

    addEventListener(type, listener, options) {
      if (type !== "message") return super.addEventListener(type, listener, options);
      return super.addEventListener(
        type,
        (event) => {
          const message = JSON.parse(event.data);
          this.received.push(message);
          if (this.dropPredicate && this.dropPredicate(message)) return;
          listener(event);
          if (this.repeatPredicate && this.repeatPredicate(message)) listener(event);
        },
        options,
      );
    }

    static get last() {
      return Recorder.sockets[Recorder.sockets.length - 1];
    }
  }
  return Recorder;
}

/** Resolves with the first emitted value for which `pred` is true; rejects after `ms`. */
export function waitFor(client, type, pred = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for "${type}"`));
    }, ms);
    const off = client.on(type, (...args) => {
      if (pred(...args)) {
        clearTimeout(timer);
        off();
        resolve(args.length > 1 ? args : args[0]);
      }
    });
  });
}

/** Polls `check` until it returns truthy; rejects after `ms`. */
export async function until(check, ms = 5000, what = "condition") {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = check();
    if (value) return value;
    await sleep(20);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** A seeded PRNG (mulberry32): () => number in [0, 1). */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
