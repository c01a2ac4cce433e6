// The Socket.IO peer for makeroom-load: the same rooms/publish/ack semantics as Makeroom's chat.
//   subscribe {channel}          -> joins the room, acks {channel}
//   publish {channel, data}      -> emits "pub" {channel, offset, ts, data} to everyone in the room
//                                   (the sender too, as Makeroom does), then acks {offset}
// With REDIS_URL set, rooms span every instance through @socket.io/redis-adapter.
// It keeps nothing: no history, no recovery, offsets are per instance. It does less work per message
// than Makeroom, which stores every message durably before fanning it out.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

async function main() {
  const server = http.createServer();
  const io = new Server(server, {
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
    maxHttpBufferSize: 64 * 1024,
  });

  if (process.env.REDIS_URL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    pub.on("error", (err) => console.error("redis:", err.message));
    sub.on("error", (err) => console.error("redis:", err.message));
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }

  const offsets = new Map();
  io.on("connection", (socket) => {
    socket.on("subscribe", (msg, ack) => {
      if (!msg || typeof msg.channel !== "string") {
        if (typeof ack === "function") ack({ error: "bad_request" });
        return;
      }
      socket.join(msg.channel);
      if (typeof ack === "function") ack({ channel: msg.channel });
    });
    socket.on("publish", (msg, ack) => {
      if (!msg || typeof msg.channel !== "string" || typeof msg.data !== "object") {
        if (typeof ack === "function") ack({ error: "bad_request" });
        return;
      }
      const offset = (offsets.get(msg.channel) || 0) + 1;
      offsets.set(msg.channel, offset);
      io.to(msg.channel).emit("pub", {
        channel: msg.channel,
        offset,
        ts: Date.now(),
        data: msg.data,
      });
      if (typeof ack === "function") ack({ offset });
    });
  });

  server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
    console.log(`peer listening on ${server.address().port}`);
  });
  const stop = () => {
    io.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
