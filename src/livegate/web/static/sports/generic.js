// Fallback scoreboard for `generic` events and payloads a sport's decoder cannot read:
// the latest payload as pretty JSON, with its comment (or summary) on top.
import { h, isObject, replace, setText } from "../common.js";

export const name = "generic";

export function looksLike(data) {
  return isObject(data);
}

export function summary(data) {
  const text = String((data && (data.comment || data.summary)) || "");
  return text.slice(0, 200) || `update with ${Object.keys(data || {}).length} fields`;
}

export function announce(data) {
  return summary(data);
}

export function createBoard(root) {
  const headline = h("p", { class: "gn-headline" });
  const pre = h("pre", { class: "json", tabindex: "0", "aria-label": "Latest update as JSON" });
  replace(root, h("div", { class: "board generic" }, headline, pre));
  return {
    reset(snapshot) {
      if (snapshot) this.update(snapshot);
      else {
        setText(headline, "No updates yet.");
        setText(pre, "");
      }
    },
    update(data) {
      const text = data && (data.comment || data.summary);
      setText(headline, typeof text === "string" ? text : "Latest update");
      setText(pre, JSON.stringify(data, null, 2));
    },
  };
}
