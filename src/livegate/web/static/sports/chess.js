// Chess scoreboard: the board from each update's FEN, the last move from its UCI,
// the move list from the stream of updates, clocks and the result (docs/sports.md).
import { count, h, isObject, replace, setText, show } from "../common.js";

export const name = "chess";

export function looksLike(data) {
  return isObject(data) && typeof data.fen === "string" && parseFen(data.fen) !== null;
}

// Filled glyphs for both sides: colour comes from CSS, so both read well on any square.
// U+FE0E asks for the text presentation (the pawn has an emoji form).
const GLYPHS = { k: "♚", q: "♛", r: "♜", b: "♝", n: "♞", p: "♟\uFE0E" };
const NAMES = { k: "king", q: "queen", r: "rook", b: "bishop", n: "knight", p: "pawn" };
const FILES = "abcdefgh";

/** {board: 8 ranks from 8 to 1, each 8 chars or null, turn: "w"|"b", fullmove} or null. */
export function parseFen(fen) {
  const fields = String(fen).trim().split(/\s+/);
  const rows = fields[0].split("/");
  if (rows.length !== 8) return null;
  const board = [];
  for (const row of rows) {
    const squares = [];
    for (const ch of row) {
      if (/[1-8]/.test(ch)) for (let i = 0; i < Number(ch); i++) squares.push(null);
      else if (/[kqrbnpKQRBNP]/.test(ch)) squares.push(ch);
      else return null;
    }
    if (squares.length !== 8) return null;
    board.push(squares);
  }
  const turn = fields[1] === "b" ? "b" : "w";
  const fullmove = /^\d+$/.test(fields[5] || "") ? Number(fields[5]) : null;
  return { board, turn, fullmove };
}

function squareName(file, rankIndex) {
  return `${FILES[file]}${8 - rankIndex}`;
}

/** Move number and side for an update: {number, white} (white: white made the move). */
function moveNumber(data) {
  const pos = parseFen(data.fen);
  const ply = count(data.ply);
  const white = pos ? pos.turn === "b" : ply !== null && ply % 2 === 1;
  let number;
  if (pos && pos.fullmove !== null) number = white ? pos.fullmove : pos.fullmove - 1;
  else number = ply !== null ? Math.floor((ply + 1) / 2) : 0;
  return { number, white };
}

/** "1:23:00" or "4:05" for ms. */
export function formatClock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** `12. Nf3 (white 1:23:00)`, `12... Nf6`, `17. Rd8# 1-0`, `0-1 at ply 40`, like the server. */
export function summary(data) {
  const san = typeof data.san === "string" && data.san ? data.san : null;
  if (!san) return `${show(data.result, "?")} at ply ${show(data.ply, "?")}`;
  const { number, white } = moveNumber(data);
  let text = white ? `${number}. ${san}` : `${number}... ${san}`;
  const side = white ? "white" : "black";
  if (isObject(data.clocks) && count(data.clocks[side]) !== null) {
    text += ` (${side} ${formatClock(count(data.clocks[side]))})`;
  }
  if (typeof data.result === "string") text += ` ${data.result}`;
  return text;
}

const RESULTS = { "1-0": "White wins", "0-1": "Black wins", "1/2-1/2": "Draw" };

export function announce(data) {
  const san = typeof data.san === "string" ? data.san : "";
  const { number, white } = moveNumber(data);
  const parts = [];
  if (san) parts.push(`${white ? "White" : "Black"} plays ${san}, move ${number}.`);
  if (typeof data.result === "string") parts.push(`${RESULTS[data.result] || data.result}.`);
  return parts.join(" ") || summary(data);
}

function titlePlayers(title) {
  // "Paul Morphy v Duke Karl / Count Isouard, Paris 1858" -> the two names.
  const m = /^(.+?)\s+v(?:s\.?)?\s+(.+?)(?:,|$)/.exec(title || "");
  return m ? { white: m[1], black: m[2] } : { white: "White", black: "Black" };
}

export function createBoard(root, ctx) {
  const fromTitle = titlePlayers(ctx && ctx.title);
  const squares = [];
  const grid = h("div", { class: "chessboard", role: "img" });
  for (let r = 0; r < 8; r++) {
    for (let f = 0; f < 8; f++) {
      const sq = h("div", {
        class: `sq ${(r + f) % 2 ? "dark" : "light"}`,
        dataset: { square: squareName(f, r) },
      });
      if (f === 0) sq.append(h("span", { class: "coord rank", "aria-hidden": "true", text: String(8 - r) }));
      if (r === 7) sq.append(h("span", { class: "coord file", "aria-hidden": "true", text: FILES[f] }));
      sq.append(h("span", { class: "piece" }));
      squares.push(sq);
      grid.append(sq);
    }
  }
  const player = (side) => {
    const nameEl = h("span", { class: "name" });
    const clock = h("span", { class: "clock", "aria-label": `${side} clock` });
    const row = h("div", { class: `player ${side}` }, h("span", { class: `swatch ${side}`, "aria-hidden": "true" }), nameEl, clock);
    return { row, nameEl, clock };
  };
  const black = player("black");
  const white = player("white");
  const result = h("p", { class: "ch-result", hidden: true });
  const moves = h("ol", { class: "moves", "aria-label": "Moves" });
  const earlier = h("p", { class: "muted small", hidden: true, text: "Earlier moves were played before you joined." });
  const comment = h("p", { class: "ch-comment" });
  replace(
    root,
    h(
      "div",
      { class: "board chess" },
      h("div", { class: "ch-main" }, black.row, grid, white.row),
      h("div", { class: "ch-side" }, result, h("h3", { class: "small-head", text: "Moves" }), earlier, h("div", { class: "moves-wrap" }, moves), comment),
    ),
  );

  /** ply -> san, from the stream. */
  let history = new Map();
  let names = { ...fromTitle };

  function renderMoves() {
    const plies = [...history.keys()].sort((a, b) => a - b);
    const rows = new Map();
    for (const ply of plies) {
      const { number, white: byWhite, san } = history.get(ply);
      if (!rows.has(number)) rows.set(number, { white: null, black: null });
      rows.get(number)[byWhite ? "white" : "black"] = san;
    }
    earlier.hidden = !plies.length || plies[0] <= 1;
    const last = plies[plies.length - 1];
    const items = [];
    for (const [number, pair] of rows) {
      items.push(
        h(
          "li",
          { value: number },
          h("span", { class: "mv", text: pair.white || "…" }),
          h("span", { class: "mv", text: pair.black || "" }),
        ),
      );
    }
    replace(moves, items);
    if (last !== undefined && moves.lastElementChild) {
      const cells = moves.lastElementChild.querySelectorAll(".mv");
      const lastMove = history.get(last);
      cells[lastMove.white ? 0 : 1].classList.add("current");
      moves.parentElement.scrollTop = moves.parentElement.scrollHeight;
    }
  }

  function render(data) {
    const pos = parseFen(data.fen);
    const uci = typeof data.uci === "string" ? data.uci : "";
    const from = uci.slice(0, 2);
    const to = uci.slice(2, 4);
    const check = typeof data.san === "string" && /[+#]$/.test(data.san);
    for (let r = 0; r < 8; r++) {
      for (let f = 0; f < 8; f++) {
        const sq = squares[r * 8 + f];
        const piece = pos.board[r][f];
        const span = sq.lastElementChild;
        const name = sq.dataset.square;
        sq.classList.toggle("from", name === from);
        sq.classList.toggle("to", name === to);
        const inCheck = check && piece === (pos.turn === "w" ? "K" : "k");
        sq.classList.toggle("check", inCheck);
        if (piece) {
          const isWhite = piece === piece.toUpperCase();
          setText(span, GLYPHS[piece.toLowerCase()]);
          span.className = `piece ${isWhite ? "w" : "b"}`;
          span.dataset.piece = piece;
        } else {
          setText(span, "");
          span.className = "piece";
          delete span.dataset.piece;
        }
      }
    }
    const moveText = uci ? `, last move ${from} to ${to}` : "";
    grid.setAttribute(
      "aria-label",
      `Chess board${moveText}. ${pos.turn === "w" ? "White" : "Black"} to move.`,
    );
    if (typeof data.white === "string") names.white = data.white;
    if (typeof data.black === "string") names.black = data.black;
    setText(white.nameEl, names.white);
    setText(black.nameEl, names.black);
    const clocks = isObject(data.clocks) ? data.clocks : {};
    for (const [side, el] of [["white", white], ["black", black]]) {
      const ms = count(clocks[side]);
      setText(el.clock, ms !== null ? formatClock(ms) : "");
      el.row.classList.toggle("to-move", !data.result && (pos.turn === "w") === (side === "white"));
    }
    result.hidden = typeof data.result !== "string";
    if (!result.hidden) setText(result, `${data.result} · ${RESULTS[data.result] || "game over"}`);
    setText(comment, typeof data.comment === "string" ? data.comment : "");
  }

  /** Every move so far from the server's match state (`joined.state`): {startFen, moves}. */
  function fromState(state) {
    if (!isObject(state) || !Array.isArray(state.moves)) return;
    const start = parseFen(typeof state.startFen === "string" ? state.startFen : "");
    let whiteToMove = start ? start.turn === "w" : true;
    let number = start && start.fullmove !== null ? start.fullmove : 1;
    state.moves.forEach((san, index) => {
      if (typeof san === "string") history.set(index + 1, { number, white: whiteToMove, san });
      if (!whiteToMove) number += 1;
      whiteToMove = !whiteToMove;
    });
  }

  return {
    reset(snapshot, state) {
      history = new Map();
      names = { ...fromTitle };
      fromState(state);
      if (snapshot) this.update(snapshot);
      else renderMoves();
    },
    update(data) {
      const ply = count(data.ply);
      if (ply !== null && typeof data.san === "string" && data.san) {
        const { number, white: byWhite } = moveNumber(data);
        // A replayed ply replaces the old one; later plies belong to a line taken back.
        for (const key of [...history.keys()]) if (key >= ply) history.delete(key);
        history.set(ply, { number, white: byWhite, san: data.san });
      }
      render(data);
      renderMoves();
    },
  };
}
