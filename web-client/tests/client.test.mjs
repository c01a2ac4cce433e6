// Unit tests of makeroom.js in node, against a scripted fake server (no browser, no binary):
// node --test tests/client.test.mjs

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Makeroom, Status } from '../makeroom.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check()` is true, for at most `ms`. */
async function until(check, ms = 2000, what = 'condition') {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A server that speaks enough of the protocol: hello, subscribe (with since), publish (with keys), history, time. */
class FakeServer {
  constructor() {
    this.epoch = 'e1';
    this.logs = new Map(); // channel -> [publication]
    this.keys = new Map(); // channel:key -> offset
    this.sockets = [];
    this.frames = []; // every client frame, in order
    this.onFrame = null; // (frame, socket) => true if handled here
    this.from = { id: 'p_other', name: 'Other', role: 'participant' };
    const server = this;
    this.WebSocket = class FakeSocket {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.subs = new Set();
        server.sockets.push(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          this.readyState = 1;
          if (this.onopen) this.onopen();
        }, 1);
      }
      send(text) {
        const frame = JSON.parse(text);
        server.frames.push(frame);
        if (server.onFrame && server.onFrame(frame, this)) return;
        server.handle(frame, this);
      }
      close() {
        if (this.readyState === 3) return;
        this.readyState = 3;
        setTimeout(() => this.onclose && this.onclose({ code: 1005 }), 0);
      }
    };
  }

  get live() {
    return this.sockets.filter((socket) => socket.readyState === 1);
  }

  push(socket, frame) {
    if (socket.readyState === 1 && socket.onmessage) socket.onmessage({ data: JSON.stringify(frame) });
  }

  reply(socket, id, result) {
    this.push(socket, { type: 'reply', id, result });
  }

  log(channel) {
    if (!this.logs.has(channel)) this.logs.set(channel, []);
    return this.logs.get(channel);
  }

  append(channel, data, from = this.from) {
    const log = this.log(channel);
    const publication = { channel, epoch: this.epoch, offset: log.length + 1, ts: Date.now(), from, data };
    log.push(publication);
    for (const socket of this.live) if (socket.subs.has(channel)) this.push(socket, { type: 'pub', ...publication });
    return publication;
  }

  /** The connection dies without a close frame from the server (a dropped phone). */
  drop(socket = this.live[0]) {
    socket.readyState = 3;
    socket.onclose({ code: 1006 });
  }

  handle(frame, socket) {
    const log = frame.channel ? this.log(frame.channel) : null;
    switch (frame.op) {
      case 'hello':
        return this.reply(socket, frame.id, {
          participant: { id: 'p_me', name: 'Me', role: 'participant' },
          event: { id: 'e_1', name: 'Test' },
          server_time: Date.now(),
          heartbeat_ms: 15000,
        });
      case 'subscribe': {
        socket.subs.add(frame.channel);
        const result = { channel: frame.channel, epoch: this.epoch, offset: log.length };
        if (frame.since) {
          const ok = frame.since.epoch === this.epoch && frame.since.offset <= log.length;
          result.recovered = ok;
          if (ok) result.publications = log.slice(frame.since.offset);
        }
        return this.reply(socket, frame.id, result);
      }
      case 'publish': {
        const known = this.keys.get(`${frame.channel}:${frame.key}`);
        if (known) return this.reply(socket, frame.id, { epoch: this.epoch, offset: known, duplicate: true });
        const publication = this.append(frame.channel, frame.data, { id: 'p_me', name: 'Me', role: 'participant' });
        this.keys.set(`${frame.channel}:${frame.key}`, publication.offset);
        return this.reply(socket, frame.id, { epoch: this.epoch, offset: publication.offset, duplicate: false });
      }
      case 'history':
        return this.reply(socket, frame.id, { channel: frame.channel, epoch: this.epoch, offset: log.length, first: log.length ? 1 : 0, publications: log.slice(-50) });
      case 'time':
        return this.reply(socket, frame.id, { server_time: Date.now() });
      default:
        return this.reply(socket, frame.id, {});
    }
  }
}

/** A localStorage stand-in. */
function memoryStorage() {
  const map = new Map();
  return {
    getItem: (key) => (map.has(key) ? map.get(key) : null),
    setItem: (key, value) => map.set(key, String(value)),
    removeItem: (key) => map.delete(key),
  };
}

function client(server, options = {}) {
  const made = new Makeroom({
    url: 'ws://fake/ws',
    getToken: async () => 'token',
    WebSocket: server.WebSocket,
    storage: memoryStorage(),
    backoffBaseMs: 5,
    backoffCapMs: 40,
    requestTimeoutMs: 500,
    ...options,
  });
  const seen = { pubs: [], resyncs: [], statuses: [] };
  made.on('pub', (p) => seen.pubs.push(`${p.channel}#${p.offset}`));
  made.on('resync', (r) => seen.resyncs.push(`${r.channel}:${r.reason}`));
  made.on('status', (s) => seen.statuses.push(s.status));
  return { client: made, seen };
}

test('each publication is delivered once and a reconnect recovers exactly what was missed', async () => {
  const server = new FakeServer();
  const { client: c, seen } = client(server);
  c.subscribe('lobby');
  c.connect();
  await until(() => c.status === Status.ONLINE, 2000, 'online');
  assert.deepEqual(seen.resyncs, ['lobby:initial']);
  server.append('lobby', { text: 'one' });
  server.append('lobby', { text: 'two' });
  await until(() => seen.pubs.length === 2);

  server.drop();
  server.append('lobby', { text: 'three (missed)' });
  server.append('lobby', { text: 'four (missed)' });
  await until(() => c.status === Status.ONLINE && server.live.length === 1, 2000, 'back online');
  const resubscribe = server.frames.filter((f) => f.op === 'subscribe').pop();
  assert.deepEqual(resubscribe.since, { epoch: 'e1', offset: 2 });
  await until(() => seen.pubs.length === 4);

  // A push the client already has (say, a replay racing a live push) is dropped.
  server.push(server.live[0], { type: 'pub', ...server.log('lobby')[3] });
  server.append('lobby', { text: 'five' });
  await until(() => seen.pubs.length === 5);
  assert.deepEqual(seen.pubs, ['lobby#1', 'lobby#2', 'lobby#3', 'lobby#4', 'lobby#5']);
  assert.deepEqual(seen.resyncs, ['lobby:initial']);
  assert.ok(seen.statuses.includes(Status.RECONNECTING));
  c.close();
});

test('`recovered: false` and a `reset` push ask the page to resync', async () => {
  const server = new FakeServer();
  const { client: c, seen } = client(server);
  c.subscribe('lobby');
  c.connect();
  await until(() => c.status === Status.ONLINE);
  server.append('lobby', { text: 'one' });
  await until(() => seen.pubs.length === 1);
  server.drop();
  server.epoch = 'e2'; // the data was replaced: old offsets mean nothing
  await until(() => seen.resyncs.length === 2, 2000, 'resync');
  assert.equal(seen.resyncs[1], 'lobby:not_recovered');
  assert.deepEqual(c.position('lobby'), { epoch: 'e2', offset: 1 });

  server.push(server.live[0], { type: 'reset', channel: 'lobby', reason: 'lost' });
  assert.equal(seen.resyncs[2], 'lobby:reset');
  c.close();
});

test('a message whose reply was lost is sent again with the same key and stored once', async () => {
  const server = new FakeServer();
  const storage = memoryStorage();
  const { client: c } = client(server, { storage, outboxKey: 'outbox' });
  let dropNextReply = true;
  server.onFrame = (frame, socket) => {
    if (frame.op !== 'publish' || !dropNextReply) return false;
    dropNextReply = false;
    server.handle(frame, { ...socket, readyState: 3 }); // stored, but the reply is lost...
    server.drop(socket); // ...because the connection died
    return true;
  };
  c.subscribe('lobby');
  c.connect();
  await until(() => c.status === Status.ONLINE);
  const entry = c.publish('lobby', { text: 'hello' });
  assert.equal(JSON.parse(storage.getItem('outbox'))[0].key, entry.key, 'persisted before sending');
  const result = await entry.done;
  assert.equal(result.duplicate, true, 'the retry found the stored message');
  const sent = server.frames.filter((f) => f.op === 'publish');
  assert.equal(sent.length, 2);
  assert.equal(sent[0].key, sent[1].key);
  assert.equal(server.log('lobby').length, 1);
  assert.equal(c.outbox.length, 0);
  assert.equal(storage.getItem('outbox'), null);
  c.close();
});

test('the outbox survives a reload and is sent when the connection is back', async () => {
  const server = new FakeServer();
  const storage = memoryStorage();
  const offline = new Makeroom({ url: 'ws://x', getToken: async () => 'token', WebSocket: server.WebSocket, storage, outboxKey: 'ob' });
  offline.publish('lobby', { text: 'written offline' }); // never connected
  const { client: c } = client(server, { storage, outboxKey: 'ob' });
  assert.equal(c.outbox.length, 1);
  const sent = new Promise((resolve) => c.on('sent', resolve));
  c.connect();
  const { offset, duplicate } = await sent;
  assert.equal(offset, 1);
  assert.equal(duplicate, false);
  assert.equal(server.log('lobby')[0].data.text, 'written offline');
  c.close();
});

/**
 * An outbox store shaped like IndexedDB's: every call answers a little later. It tells its watchers
 * (the other tabs) of each change, as the BroadcastChannel does.
 */
function asyncStore(initial = []) {
  let list = initial.slice();
  const watchers = new Set();
  const later = (value, ms = 5) => new Promise((resolve) => setTimeout(() => resolve(value), ms));
  const changed = () => later().then(() => watchers.forEach((fn) => fn()));
  return {
    get entries() {
      return list.slice();
    },
    load: () => later(list.slice(), 30),
    put: async (entry) => {
      await later();
      if (!list.some((e) => e.key === entry.key)) list.push(entry);
      changed();
    },
    delete: async (key) => {
      await later();
      list = list.filter((e) => e.key !== key);
      changed();
    },
    clear: async () => {
      await later();
      list = [];
      changed();
    },
    watch(fn) {
      watchers.add(fn);
      return () => watchers.delete(fn);
    },
  };
}

test('an outbox kept in an asynchronous store is read before anything is sent, oldest first', async () => {
  const server = new FakeServer();
  const kept = { key: 'k-old', channel: 'lobby', data: { text: 'kept from before' }, createdAt: Date.now() - 60000 };
  const store = asyncStore([kept]);
  const { client: c } = client(server, { outboxStore: store });
  const shown = [];
  c.on('outbox', (entries) => shown.push(entries.map((e) => e.data.text)));
  const fresh = c.publish('lobby', { text: 'written now' });
  assert.deepEqual(c.outbox.map((e) => e.key), [fresh.key], 'what is written shows at once');
  c.connect();
  await c.outboxLoaded;
  assert.deepEqual(shown[1], ['kept from before', 'written now'], 'once read, the kept entry comes first');
  await fresh.done;
  assert.deepEqual(server.log('lobby').map((p) => p.data.text), ['kept from before', 'written now']);
  await until(() => store.entries.length === 0, 2000, 'the store emptied');
  assert.equal(c.outbox.length, 0);
  c.close();
});

test('a change another tab makes to the outbox is sent once, and `clearOutbox` forgets what waits', async () => {
  const server = new FakeServer();
  const store = asyncStore();
  const { client: online } = client(server, { outboxStore: store });
  online.connect();
  await until(() => online.status === Status.ONLINE);
  // A second tab of the same person whose connection cannot get through: it only writes.
  const unreachable = async () => {
    throw Object.assign(new Error('no network'), { code: 'network' });
  };
  const { client: other } = client(server, { outboxStore: store, getToken: unreachable, backoffBaseMs: 60000, backoffCapMs: 60000 });
  other.connect();
  await other.outboxLoaded;
  other.publish('lobby', { text: 'from the other tab' });
  await until(() => server.log('lobby').length === 1, 2000, 'sent by the online tab');
  await until(() => store.entries.length === 0 && other.outbox.length === 0, 2000, 'gone from both tabs');
  assert.equal(server.frames.filter((f) => f.op === 'publish').length, 1);

  const offline = new Makeroom({ url: 'ws://x', getToken: async () => 'token', WebSocket: server.WebSocket, outboxStore: asyncStore() });
  const first = offline.publish('lobby', { text: 'one' });
  offline.command('roster', { type: 'skills.set', skills: [] });
  await offline.clearOutbox();
  assert.equal(offline.outbox.length, 0);
  await assert.rejects(first.done, (err) => err.code === 'discarded');
  online.close();
  other.close();
});

test('a refused refresh token ends in `signedout` and a removal in `removed`, with no retry loop', async () => {
  const server = new FakeServer();
  let calls = 0;
  const { client: c, seen } = client(server, {
    getToken: async () => {
      calls += 1;
      throw Object.assign(new Error('token expired'), { status: 401 });
    },
  });
  c.connect();
  await until(() => c.status === Status.SIGNED_OUT);
  await sleep(100);
  assert.equal(calls, 1);
  assert.equal(server.sockets.length, 0);
  assert.deepEqual(seen.statuses, [Status.SIGNED_OUT]);

  const second = client(server);
  second.client.connect();
  await until(() => second.client.status === Status.ONLINE);
  const socket = server.live[0];
  server.push(socket, { type: 'closing', code: 4003, reason: 'removed from the event', reconnect: false });
  socket.readyState = 3;
  socket.onclose({ code: 4003 });
  assert.equal(second.client.status, Status.REMOVED);
  await sleep(100);
  assert.equal(server.sockets.length, 1, 'no new connection');
});

test('reconnect delays use full jitter under an exponential ceiling capped at backoffCapMs', async () => {
  const server = new FakeServer();
  const delays = [];
  const random = Math.random;
  Math.random = () => 0.999999;
  try {
    const { client: c } = client(server, {
      backoffBaseMs: 2,
      backoffCapMs: 20,
      getToken: async () => {
        throw Object.assign(new Error('no network'), { code: 'network' });
      },
    });
    c.on('status', ({ delayMs }) => delayMs !== undefined && delays.push(delayMs));
    c.connect();
    await until(() => delays.length >= 7, 3000, 'seven attempts');
    c.close();
  } finally {
    Math.random = random;
  }
  assert.deepEqual(delays.slice(0, 7), [1, 3, 7, 15, 19, 19, 19]);
});

test('`token_expiring` gets a fresh token and sends `refresh` on the same connection', async () => {
  const server = new FakeServer();
  let n = 0;
  const { client: c } = client(server, { getToken: async () => `token-${++n}` });
  c.connect();
  await until(() => c.status === Status.ONLINE);
  server.push(server.live[0], { type: 'token_expiring', expires_at: Date.now() + 60000 });
  await until(() => server.frames.some((f) => f.op === 'refresh'));
  assert.equal(server.frames.find((f) => f.op === 'refresh').token, 'token-2');
  assert.equal(server.sockets.length, 1);
  c.close();
});

test('the clock keeps the offset of the lowest round trip', () => {
  const server = new FakeServer();
  const { client: c } = client(server);
  c._addClockSample(1000, 1400, 6200); // rtt 400: offset 5000
  c._addClockSample(2000, 2020, 7110); // rtt 20: offset 5100
  c._addClockSample(3000, 3300, 9000); // rtt 300: offset 5850
  assert.deepEqual(c.clock, { offset: 5100, rtt: 20 });
  assert.ok(Math.abs(c.serverNow() - (Date.now() + 5100)) < 50);
});

test('presence keeps the full member list through joins and leaves', async () => {
  const server = new FakeServer();
  server.onFrame = (frame, socket) => {
    if (frame.op !== 'subscribe' || !frame.presence) return false;
    socket.subs.add(frame.channel);
    server.reply(socket, frame.id, { channel: frame.channel, epoch: 'e1', offset: 0, presence: [{ id: 'p_me', name: 'Me', role: 'participant' }] });
    return true;
  };
  const { client: c } = client(server);
  const lists = [];
  c.on('presence', ({ members }) => lists.push(members.map((m) => m.name).join(',')));
  c.subscribe('team:t1', { presence: true });
  c.connect();
  await until(() => lists.length === 1);
  server.push(server.live[0], { type: 'presence', channel: 'team:t1', action: 'join', member: { id: 'p_ada', name: 'Ada', role: 'participant' } });
  server.push(server.live[0], { type: 'presence', channel: 'team:t1', action: 'leave', member: { id: 'p_me', name: 'Me', role: 'participant' } });
  assert.deepEqual(lists, ['Me', 'Ada,Me', 'Ada']);
  c.close();
});
