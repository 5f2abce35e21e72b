// Picks the scoreboard decoder for an event: by its sport, else by the payload's shape.
import * as chess from "./chess.js";
import * as cricket from "./cricket.js";
import * as football from "./football.js";
import * as generic from "./generic.js";

const BY_SPORT = { cricket, chess, football, generic };

/**
 * The decoder for one payload: the event's sport when its decoder reads the payload;
 * for an unknown sport, whichever decoder recognises the payload's shape; else generic.
 */
export function decoderFor(sport, data) {
  const named = BY_SPORT[sport];
  if (!data) return named || generic;
  if (named) return named.looksLike(data) ? named : generic;
  for (const candidate of [cricket, chess, football]) {
    if (candidate.looksLike(data)) return candidate;
  }
  return generic;
}
