// A peer for bench/peers: a plain Node `ws` server, written the way its README shows.
//
// Viewers send {"id": ..., "eventId": ...} and are kept in that room's Set; they get
// {"type":"joined"} back. POST /publish?room=R with a JSON body sends
// {"type":"score","eventId":R,"seq":n,"data":<body>} to every socket of the room,
// one ws.send() each, and answers 202 {"seq":n}. GET /ready answers 200.
//
//   node ws_server.js <port>
"use strict";
const http = require("http");
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2]);
const rooms = new Map();
let seq = 0;

function readBody(req, done) {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => done(Buffer.concat(chunks).toString()));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "POST" && url.pathname === "/publish") {
    readBody(req, (body) => {
      const room = url.searchParams.get("room");
      seq += 1;
      const message = `{"type":"score","eventId":${JSON.stringify(room)},"seq":${seq},"data":${body}}`;
      for (const socket of rooms.get(room) || []) socket.send(message);
      res.writeHead(202, { "content-type": "application/json" });
      res.end(`{"seq":${seq}}`);
    });
    return;
  }
  res.writeHead(url.pathname === "/ready" ? 200 : 404);
  res.end();
});

const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 });
wss.on("connection", (socket) => {
  let joined = null;
  socket.on("message", (data) => {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      socket.close(1007, "bad json");
      return;
    }
    if (joined === null && typeof message.eventId === "string") {
      joined = message.eventId;
      if (!rooms.has(joined)) rooms.set(joined, new Set());
      rooms.get(joined).add(socket);
      socket.send(`{"type":"joined","eventId":${JSON.stringify(joined)}}`);
    }
  });
  socket.on("close", () => {
    if (joined !== null) rooms.get(joined).delete(socket);
  });
});

server.listen(port, "127.0.0.1");
