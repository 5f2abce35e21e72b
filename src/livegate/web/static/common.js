// Small helpers shared by the pages. No framework: a DOM builder, the API, ids.

/**
 * Build an element: h("a", {href: "/", class: "x"}, "text", child).
 * Attributes: "class", "text", "dataset" (object), booleans (true sets "", false skips),
 * everything else through setAttribute. Children: nodes, strings, null (skipped), arrays.
 */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

/** Replace every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** Set textContent only when it changed (keeps screen readers and layout calm). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/** Random hex string from the platform CSPRNG (works on plain http, unlike randomUUID). */
export function randomHex(bytes = 8) {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** This browser's viewer id, kept in localStorage (in memory if storage is blocked). */
export function viewerId() {
  const key = "livegate.viewerId";
  try {
    let id = localStorage.getItem(key);
    if (!id) {
      id = `fan-${randomHex(6)}`;
      localStorage.setItem(key, id);
    }
    return id;
  } catch {
    viewerId.fallback ||= `fan-${randomHex(6)}`;
    return viewerId.fallback;
  }
}

/** An API failure: `status`, `code`, `message` and, for 422, `fields` [{path, reason}]. */
export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields || [];
  }
}

/** Call the JSON API; resolves to the parsed body, rejects with ApiError. */
export async function api(path, { method = "GET", body, key, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (key) init.headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `cannot reach the server (${err.message})`);
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    // A proxy's HTML error page, an empty body: reported below by status.
  }
  if (!response.ok) {
    const error = (parsed && parsed.error) || {};
    throw new ApiError(
      response.status,
      error.code || "http_error",
      error.message || `HTTP ${response.status}`,
      error.fields,
    );
  }
  return parsed;
}

export const SPORT_ICONS = { cricket: "🏏", chess: "♟️", football: "⚽" };

export function sportIcon(sport) {
  return SPORT_ICONS[sport] || "🏟️";
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "14:03:07" for a ms timestamp, in the viewer's locale. */
export function clockTime(ms) {
  const date = ms ? new Date(ms) : new Date();
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** A count that may be sent as "100" or 100; null when it is neither. */
export function count(value) {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
  return null;
}

/** Is this a plain JSON object? */
export function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Text for display: strings as they are, numbers as numbers, anything else blank. */
export function show(value, fallback = "") {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return fallback;
}
