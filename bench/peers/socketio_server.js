// A peer for bench/peers: a Node socket.io 4 server, rooms on the default in-memory adapter.
//
// A viewer emits "join" with the room's name, is put in that room and gets "joined".
// POST /publish?room=R with a JSON body emits "score" {seq, data} to the room
// (io.to(R).emit: socket.io encodes the packet once for the whole room) and answers
// 202 {"seq":n}. GET /ready answers 200. WebSocket transport only (no long-polling),
// no compression: the same wire work as the others.
//
//   node socketio_server.js <port>
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
let seq = 0;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "POST" && url.pathname === "/publish") {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      seq += 1;
      const data = JSON.parse(Buffer.concat(chunks).toString());
      io.to(url.searchParams.get("room")).emit("score", { seq, data });
      res.writeHead(202, { "content-type": "application/json" });
      res.end(`{"seq":${seq}}`);
    });
    return;
  }
  res.writeHead(url.pathname === "/ready" ? 200 : 404);
  res.end();
});

const io = new Server(server, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: 64 * 1024,
});
io.on("connection", (socket) => {
  socket.on("join", (room) => {
    if (typeof room !== "string") return;
    socket.join(room);
    socket.emit("joined", room);
  });
});

server.listen(port, "127.0.0.1");
