// Test support: the browser's Worker, enough of it to run the SDK's timer worker
// in Node. It loads the Blob URL the SDK creates and runs that very source in a
// real worker thread, with the dedicated-worker globals it uses (onmessage,
// postMessage).

import { resolveObjectURL } from "node:buffer";
import { Worker as ThreadWorker } from "node:worker_threads";

const PRELUDE = `
const { parentPort } = require("node:worker_threads");
globalThis.onmessage = null;
globalThis.postMessage = (data) => parentPort.postMessage(data);
parentPort.on("message", (data) => { if (globalThis.onmessage) globalThis.onmessage({ data }); });
`;

export class BlobWorker extends EventTarget {
  static instances = [];

  constructor(url, options) {
    super();
    BlobWorker.instances.push(this);
    this.options = options;
    this.source = null;
    this.fired = 0; // timer messages posted by the worker thread
    this.thread = null;
    this.pending = [];
    this.terminated = false;
    const blob = resolveObjectURL(url);
    if (blob === undefined) throw new Error(`not a live blob URL: ${url}`);
    blob.text().then((source) => {
      if (this.terminated) return;
      this.source = source;
      this.thread = new ThreadWorker(PRELUDE + source, { eval: true });
      this.thread.on("message", (data) => {
        if (data !== "ready") this.fired += 1;
        this.dispatchEvent(new MessageEvent("message", { data }));
      });
      this.thread.on("error", (err) => this.dispatchEvent(Object.assign(new Event("error"), { message: err.message })));
      for (const message of this.pending.splice(0)) this.thread.postMessage(message);
    });
  }

  postMessage(message) {
    if (this.thread) this.thread.postMessage(message);
    else this.pending.push(message);
  }

  terminate() {
    this.terminated = true;
    if (this.thread) this.thread.terminate();
  }
}

/** A Worker that fails to start the way a CSP refusal does: an async error event. */
export class RefusedWorker extends EventTarget {
  static instances = 0;

  constructor() {
    super();
    RefusedWorker.instances += 1;
    setTimeout(() => this.dispatchEvent(Object.assign(new Event("error"), { message: "refused by CSP" })), 10);
  }

  postMessage() {}

  terminate() {}
}
