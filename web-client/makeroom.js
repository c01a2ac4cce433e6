// makeroom.js: Makeroom's browser client. One ES module, no dependencies.
//
// A `Makeroom` keeps one WebSocket to the server alive for a page: it authenticates with a fresh
// access token on every (re)connect, reconnects with exponential backoff and full jitter, resubscribes
// each channel from the last message it delivered (so nothing is missed and nothing comes twice),
// keeps what was published while offline in a persisted outbox (IndexedDB, so that the service worker
// can read it too) and sends each message exactly once, and estimates the server's clock. See README.md beside this file for the events and an example.
//
// The wire protocol is described in protocol/PROTOCOL.md.

export const PROTOCOL_VERSION = 1;

/** Connection states, as emitted by the `status` event. */
export const Status = Object.freeze({
  CONNECTING: 'connecting', // first connection, not yet online
  ONLINE: 'online', // authenticated, subscribed and caught up
  RECONNECTING: 'reconnecting', // lost the connection; trying again
  OFFLINE: 'offline', // lost the connection and the browser says it has no network
  SIGNED_OUT: 'signedout', // terminal: the refresh token expired or is invalid
  REMOVED: 'removed', // terminal: removed from the event
  CLOSED: 'closed', // terminal: close() was called, or the server refused this client for good
});

const TERMINAL = new Set([Status.SIGNED_OUT, Status.REMOVED, Status.CLOSED]);

/** Error codes that mean "try the same thing again later". */
const RETRYABLE = new Set(['rate_limited', 'unavailable']);
/** Error codes of this client (not the server's): the request never got an answer. */
const TRANSIENT = new Set(['timeout', 'closed', 'offline', 'network']);

/** An error from the server (`code` is one of the protocol's codes) or from this client. */
export class MakeroomError extends Error {
  constructor(code, message, { status, retryAfterMs, cause } = {}) {
    super(message || code, cause ? { cause } : undefined);
    this.name = 'MakeroomError';
    this.code = code;
    if (status !== undefined) this.status = status;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Calls the HTTP API and returns the parsed JSON body. Throws a MakeroomError with the server's
 * error code and the HTTP status, or code `network` if the server could not be reached.
 */
export async function api(path, { method = 'GET', body, token, baseUrl = '', timeoutMs = 15000 } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
  let response;
  try {
    response = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      signal: controller ? controller.signal : undefined,
    });
  } catch (err) {
    throw new MakeroomError('network', 'could not reach the server', { cause: err });
  } finally {
    if (timer) clearTimeout(timer);
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = (parsed && parsed.error) || {};
    throw new MakeroomError(error.code || `http_${response.status}`, error.message || response.statusText, {
      status: response.status,
      retryAfterMs: error.retry_after_ms,
    });
  }
  return parsed;
}

/**
 * A token function for `Makeroom`: trades `refreshToken` for a fresh access token at POST /api/token
 * each time it is called. Resolves to the server's answer ({token, token_expires_at, participant,
 * event, team?}); the latest answer is also kept in `source.info`. Rejects with a MakeroomError whose
 * `status` is 401 (expired or invalid: sign in again) or 403 (removed from the event).
 */
export function tokenSource(refreshToken, { baseUrl = '' } = {}) {
  const source = async () => {
    const answer = await api('/api/token', { method: 'POST', body: { refresh_token: refreshToken }, baseUrl });
    source.info = answer;
    return answer;
  };
  source.info = null;
  return source;
}

/** A random id for idempotency keys: 128 bits, hex. Works outside secure contexts too. */
export function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** The WebSocket URL of the server that served this page. */
function defaultUrl() {
  const { protocol, host } = globalThis.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/ws`;
}

function safeStorage() {
  try {
    const storage = globalThis.localStorage;
    const probe = '__makeroom_probe__';
    storage.setItem(probe, '1');
    storage.removeItem(probe);
    return storage;
  } catch {
    return null; // private mode or storage disabled: keep the outbox in memory only
  }
}

// ------------------------------------------------------------------ where the outbox is kept
//
// An outbox store keeps one person's waiting messages and commands across reloads. Its methods
// return promises: `load()` (the entries, oldest first), `put(entry)`, `delete(key)` and `clear()`.
// `watch(onChange)` calls back when another tab changed the same outbox and returns a function that
// stops. A store that can read at once (localStorage) also has `loadNow()`.

const validEntries = (list) => (Array.isArray(list) ? list.filter((entry) => entry && entry.key && entry.channel) : []);

/** An outbox under `key` in localStorage, or in anything with getItem, setItem and removeItem. */
export function localStorageOutbox(storage, key) {
  const read = () => {
    try {
      return validEntries(JSON.parse(storage.getItem(key) || '[]'));
    } catch {
      return [];
    }
  };
  // Each change starts from what is stored now, not from what this page last saw: another tab of the
  // same person may have added or sent messages meanwhile.
  const change = (edit) => {
    try {
      const list = edit(read());
      if (list.length === 0) storage.removeItem(key);
      else storage.setItem(key, JSON.stringify(list));
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err); // storage full or disabled
    }
  };
  return {
    loadNow: read,
    load: () => Promise.resolve(read()),
    put: (entry) => change((list) => (list.some((e) => e.key === entry.key) ? list : list.concat([entry]))),
    delete: (entryKey) => change((list) => list.filter((e) => e.key !== entryKey)),
    clear: () => change(() => []),
    watch(onChange) {
      const win = globalThis.window;
      if (!win || !win.addEventListener) return () => {};
      const listener = (event) => {
        if (event.key === key && event.storageArea === storage) onChange();
      };
      win.addEventListener('storage', listener);
      return () => win.removeEventListener('storage', listener);
    },
  };
}

/** An outbox that lasts as long as the page (no storage at all). */
export function memoryOutbox() {
  let list = [];
  return {
    loadNow: () => list.slice(),
    load: () => Promise.resolve(list.slice()),
    put: (entry) => {
      if (!list.some((e) => e.key === entry.key)) list = list.concat([entry]);
      return Promise.resolve();
    },
    delete: (key) => {
      list = list.filter((e) => e.key !== key);
      return Promise.resolve();
    },
    clear: () => {
      list = [];
      return Promise.resolve();
    },
    watch: () => () => {},
  };
}

export const OUTBOX_DATABASE = 'makeroom';
const OUTBOX_STORE = 'outbox';
const OUTBOX_CHANNEL = 'makeroom-outbox';

/** Runs `work(objectStore)` in one transaction; resolves, once it is committed, with the result of the request `work` returns. */
function transaction(db, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(OUTBOX_STORE, mode);
    const request = work(tx.objectStore(OUTBOX_STORE));
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('the transaction was aborted'));
  });
}

/**
 * An outbox in IndexedDB, where a service worker can read it as well as the page: database
 * "makeroom", store "outbox", one record per entry, `{box, key, at, n, entry}`, keyed by
 * `[box, key]` (`box` is the outbox's name, one per person; `at` and `n` keep the order). The first
 * load moves, once, whatever an older page kept in localStorage under the same name (`legacy`), so a
 * phone loses nothing it had queued. Where IndexedDB cannot be opened (some private modes), the
 * outbox stays in localStorage. Other tabs hear of each change on a BroadcastChannel.
 */
export function indexedDbOutbox(box, { indexedDB = globalThis.indexedDB, legacy = safeStorage() } = {}) {
  const fallback = legacy ? localStorageOutbox(legacy, box) : memoryOutbox();
  let counter = 0;
  const record = (entry) => ({ box, key: entry.key, at: entry.createdAt || Date.now(), n: counter++, entry });
  let broadcast = null;
  const channel = () => {
    if (!broadcast && typeof BroadcastChannel === 'function') broadcast = new BroadcastChannel(OUTBOX_CHANNEL);
    return broadcast;
  };
  const tell = () => {
    try {
      if (channel()) broadcast.postMessage({ box });
    } catch {
      // the other tabs find out on their next load
    }
  };
  const migrate = async (db) => {
    if (!legacy) return;
    const waiting = fallback.loadNow();
    if (waiting.length > 0) await transaction(db, 'readwrite', (store) => waiting.forEach((entry) => store.put(record(entry))));
    legacy.removeItem(box);
  };
  let opening = null;
  /** The database, or null where it cannot be opened (then the fallback keeps the outbox). */
  const open = () => {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        const request = indexedDB.open(OUTBOX_DATABASE, 1);
        request.onupgradeneeded = () => {
          const store = request.result.createObjectStore(OUTBOX_STORE, { keyPath: ['box', 'key'] });
          store.createIndex('box', 'box');
        };
        request.onsuccess = () => {
          const db = request.result;
          db.onversionchange = () => db.close(); // a newer page upgrades the database
          resolve(db);
        };
        request.onerror = () => reject(request.error);
      })
        .then(async (db) => {
          await migrate(db);
          return db;
        })
        .catch(() => null);
    }
    return opening;
  };
  const change = async (work, orElse) => {
    const db = await open();
    if (!db) return orElse();
    await transaction(db, 'readwrite', work);
    tell();
  };
  return {
    async load() {
      const db = await open();
      if (!db) return fallback.load();
      const records = await transaction(db, 'readonly', (store) => store.index('box').getAll(box));
      return records.sort((a, b) => a.at - b.at || a.n - b.n).map((r) => r.entry);
    },
    put: (entry) => change((store) => store.put(record(entry)), () => fallback.put(entry)),
    delete: (key) => change((store) => store.delete([box, key]), () => fallback.delete(key)),
    clear: () =>
      change(
        (store) => {
          const keys = store.index('box').getAllKeys(box);
          keys.onsuccess = () => keys.result.forEach((key) => store.delete(key));
        },
        () => fallback.clear(),
      ),
    watch(onChange) {
      const stopFallback = fallback.watch(onChange);
      const listen = channel();
      const heard = (event) => {
        if (event.data && event.data.box === box) onChange();
      };
      if (listen) listen.addEventListener('message', heard);
      return () => {
        stopFallback();
        if (listen) listen.removeEventListener('message', heard);
      };
    },
  };
}

/** The outbox a client keeps by default: IndexedDB where the browser has it, else localStorage, else memory. */
function defaultOutbox(options, key) {
  if (options.storage !== undefined) return options.storage ? localStorageOutbox(options.storage, key) : memoryOutbox();
  if (globalThis.indexedDB) return indexedDbOutbox(key);
  const storage = safeStorage();
  return storage ? localStorageOutbox(storage, key) : memoryOutbox();
}

const CLOCK_WINDOW_MS = 15 * 60 * 1000; // samples older than this no longer count
const CLOCK_RESAMPLE_MS = 5 * 60 * 1000; // take a fresh batch this often
const CLOCK_BATCH = 5;
const CLOCK_SPACING_MS = 150;
const CHECK_TIMEOUT_MS = 4000; // a liveness check that takes longer means a dead socket
const ONLINE_RESET_MS = 10000; // a connection that lasted this long resets the backoff

/**
 * One live connection to a Makeroom server, kept alive across network drops.
 *
 * Options:
 * - `getToken` (required): async function returning an access token string or an object with
 *   `token` (such as `tokenSource(refresh)`). Called on every (re)connect and on `token_expiring`.
 *   If it rejects with an error whose `status` is 401 the client stops in state `signedout`; with 403,
 *   in state `removed`. Other failures are retried with backoff.
 * - `url`: the WebSocket URL (default: `/ws` on this page's host).
 * - `outboxKey`: the outbox's name (default `makeroom:outbox`). Use one per person.
 * - `outboxStore`: where the outbox is kept (default: `indexedDbOutbox(outboxKey)` in a browser);
 *   `storage`: a localStorage-like object to keep it in instead (null: memory only).
 * - `requestTimeoutMs` (10000), `backoffBaseMs` (500), `backoffCapMs` (15000).
 */
export class Makeroom {
  constructor(options = {}) {
    if (typeof options.getToken !== 'function') throw new TypeError('Makeroom needs a getToken function');
    this.options = {
      url: options.url || defaultUrl(),
      getToken: options.getToken,
      outboxKey: options.outboxKey || 'makeroom:outbox',
      requestTimeoutMs: options.requestTimeoutMs || 10000,
      backoffBaseMs: options.backoffBaseMs || 500,
      backoffCapMs: options.backoffCapMs || 15000,
      WebSocket: options.WebSocket || globalThis.WebSocket,
    };
    this.status = Status.CONNECTING;
    /** The `hello` result of the current connection: participant, event, team, limits, ... */
    this.me = null;
    this._listeners = new Map();
    this._subs = new Map(); // channel -> {channel, presence, pos, members, waiters, skipGap}
    this._pending = new Map(); // request id -> {resolve, reject, timer}
    this._nextId = 1;
    this._ws = null;
    this._ready = false; // hello succeeded on the current socket
    this._opening = false; // waiting for getToken
    this._started = false;
    this._attempt = 0;
    this._retryTimer = null;
    this._heartbeatTimer = null;
    this._clockTimer = null;
    this._onlineSince = 0;
    this._lastHeard = 0;
    this._closing = null; // the server's `closing` push on the current socket
    this._flushing = false;
    this._waiters = new Map(); // outbox key -> {resolve, reject}
    this._clock = { offset: 0, rtt: Infinity, samples: [] };
    this._store = options.outboxStore || defaultOutbox(options, this.options.outboxKey);
    this._writing = new Map(); // outbox key -> its store.put, until stored
    this._gone = new Set(); // keys this page took out of the outbox (sent, refused, discarded)
    this._stopWatching = null;
    this._outbox = this._store.loadNow ? this._store.loadNow() : [];
    this._outboxLoaded = Boolean(this._store.loadNow);
    /** Resolves once the outbox kept from before has been read (at once from localStorage). */
    this.outboxLoaded = this._outboxLoaded ? Promise.resolve() : this._reloadOutbox();
    this._onWindowEvent = this._onWindowEvent.bind(this);
  }

  // ---------------------------------------------------------------- events

  /** Listens to an event; returns a function that stops listening. */
  on(type, listener) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(listener);
    return () => this.off(type, listener);
  }

  off(type, listener) {
    const set = this._listeners.get(type);
    if (set) set.delete(listener);
  }

  _emit(type, detail) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(detail);
      } catch (err) {
        // A page's bug must not break the connection.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  _setStatus(status, extra = {}) {
    if (this.status === status && status !== Status.RECONNECTING) return;
    const previous = this.status;
    this.status = status;
    this._emit('status', { status, previous, ...extra });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Opens the connection (once); it then stays up until close() or a terminal state. */
  connect() {
    if (this._started) return this;
    this._started = true;
    const win = globalThis.window;
    if (win && win.addEventListener) {
      win.addEventListener('online', this._onWindowEvent);
      win.addEventListener('offline', this._onWindowEvent);
      win.addEventListener('pageshow', this._onWindowEvent);
      if (globalThis.document) document.addEventListener('visibilitychange', this._onWindowEvent);
    }
    this._stopWatching = this._store.watch(() => this._reloadOutbox());
    this._open();
    return this;
  }

  /** Closes the connection for good. The outbox stays in storage for the next page. */
  close() {
    this._terminate(Status.CLOSED, 'closed by the page');
  }

  get terminal() {
    return TERMINAL.has(this.status);
  }

  _terminate(status, reason) {
    if (this.terminal) return;
    clearTimeout(this._retryTimer);
    this._stopTimers();
    const ws = this._ws;
    this._ws = null;
    this._ready = false;
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
    this._failPending(new MakeroomError('closed', 'the connection was closed'));
    const win = globalThis.window;
    if (win && win.removeEventListener) {
      win.removeEventListener('online', this._onWindowEvent);
      win.removeEventListener('offline', this._onWindowEvent);
      win.removeEventListener('pageshow', this._onWindowEvent);
      if (globalThis.document) document.removeEventListener('visibilitychange', this._onWindowEvent);
    }
    if (this._stopWatching) this._stopWatching();
    this._stopWatching = null;
    this._setStatus(status, { reason });
  }

  async _open() {
    if (this.terminal) return;
    if (this._opening || this._ws) return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._opening = true;
    let token;
    try {
      const answer = await this.options.getToken();
      token = typeof answer === 'string' ? answer : answer && answer.token;
      if (!token) throw new MakeroomError('unauthorized', 'getToken returned no token');
    } catch (err) {
      this._opening = false;
      if (this.terminal) return;
      const status = err && err.status;
      if (status === 401 || (err && err.code === 'unauthorized' && status === undefined)) {
        this._terminate(Status.SIGNED_OUT, err.message);
      } else if (status === 403) {
        this._terminate(Status.REMOVED, err.message);
      } else {
        this._scheduleReconnect(err && err.retryAfterMs);
      }
      return;
    }
    this._opening = false;
    if (this.terminal || this._ws) return;
    let ws;
    try {
      ws = new this.options.WebSocket(this.options.url);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    this._ready = false;
    this._closing = null;
    // A socket that neither opens nor fails (a dead network) would otherwise hang for minutes.
    const openTimer = setTimeout(() => {
      if (this._ws === ws && ws.readyState !== 1) this._drop(ws);
    }, this.options.requestTimeoutMs);
    ws.onopen = () => {
      clearTimeout(openTimer);
      if (this._ws !== ws) return;
      this._lastHeard = Date.now();
      this._hello(ws, token);
    };
    ws.onmessage = (event) => {
      if (this._ws !== ws) return;
      this._lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this._onFrame(frame);
    };
    ws.onerror = () => {}; // a close event always follows
    ws.onclose = (event) => {
      clearTimeout(openTimer);
      if (this._ws !== ws) return;
      this._onClosed(event.code);
    };
  }

  async _hello(ws, token) {
    const sentAt = Date.now();
    let result;
    try {
      result = await this._request('hello', { version: PROTOCOL_VERSION, token }, { early: true });
    } catch (err) {
      if (this._ws !== ws) return;
      switch (err.code) {
        case 'unauthorized':
          return this._terminate(Status.SIGNED_OUT, err.message);
        case 'forbidden':
          return this._terminate(Status.REMOVED, err.message);
        case 'unsupported_version':
          return this._terminate(Status.CLOSED, err.message);
        default: // token_expired (a fresh token next time), rate_limited, timeout, ...
          this._retryAfterMs = err.retryAfterMs;
          return this._drop(ws);
      }
    }
    if (this._ws !== ws) return;
    this._addClockSample(sentAt, Date.now(), result.server_time);
    this.me = result;
    this._ready = true;
    this._onlineSince = Date.now();
    // Channels the page subscribes to from a `ready` listener are sent by subscribe() itself.
    const known = [...this._subs.values()];
    this._emit('ready', result);
    this._startHeartbeat(result.heartbeat_ms || 15000);
    // Resubscribe every channel from where it was left, then send what waits in the outbox.
    const subscribes = known
      .filter((sub) => this._subs.get(sub.channel) === sub && this._ws === ws)
      .map((sub) => this._sendSubscribe(sub));
    await Promise.all(subscribes);
    if (this._ws !== ws || !this._ready) return;
    this._setStatus(Status.ONLINE);
    this._flush();
    this._sampleClock();
  }

  /** Closes a socket that is (or may be) dead and reconnects. */
  _drop(ws) {
    if (this._ws !== ws) return;
    try {
      ws.close();
    } catch {
      // already closed
    }
    this._onClosed(1006);
  }

  _onClosed(code) {
    const closing = this._closing;
    this._ws = null;
    this._ready = false;
    this._stopTimers();
    this._failPending(new MakeroomError('closed', 'the connection was lost'));
    if (this.terminal) return;
    if (code === 4003 || (closing && closing.code === 4003)) {
      return this._terminate(Status.REMOVED, closing ? closing.reason : 'removed from the event');
    }
    if (code === 4000 || (closing && closing.reconnect === false)) {
      return this._terminate(Status.CLOSED, closing ? closing.reason : 'refused by the server');
    }
    if (this._onlineSince && Date.now() - this._onlineSince >= ONLINE_RESET_MS) this._attempt = 0;
    this._onlineSince = 0;
    const retryAfter = this._retryAfterMs;
    this._retryAfterMs = undefined;
    this._scheduleReconnect(retryAfter);
  }

  _disconnectedStatus() {
    return globalThis.navigator && globalThis.navigator.onLine === false ? Status.OFFLINE : Status.RECONNECTING;
  }

  /** Waits a random time in [0, min(cap, base * 2^attempt)] (full jitter), then reconnects. */
  _scheduleReconnect(atLeastMs = 0) {
    if (this.terminal) return;
    clearTimeout(this._retryTimer);
    const { backoffBaseMs, backoffCapMs } = this.options;
    const ceiling = Math.min(backoffCapMs, backoffBaseMs * 2 ** Math.min(this._attempt, 20));
    const delayMs = Math.max(atLeastMs || 0, Math.floor(Math.random() * ceiling));
    this._attempt += 1;
    this._setStatus(this._disconnectedStatus(), { attempt: this._attempt, delayMs });
    this._retryTimer = setTimeout(() => this._open(), delayMs);
  }

  /** Reconnects now instead of waiting for the backoff timer. */
  _reconnectNow() {
    if (this.terminal || !this._started || this._opening) return;
    if (this._ws) {
      this._drop(this._ws);
    }
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._open();
  }

  _onWindowEvent(event) {
    if (this.terminal) return;
    if (event.type === 'visibilitychange' && globalThis.document.visibilityState !== 'visible') return;
    if (event.type === 'offline' && !this._ws) {
      // Not connected anyway: say so, and wait for the `online` event or the backoff timer.
      this._setStatus(Status.OFFLINE);
      return;
    }
    // The socket may be dead or not (a browser's idea of "offline" can be wrong): find out.
    this.check();
  }

  /**
   * Checks that the connection is alive with a `time` request and reconnects at once if it is not.
   * Called on `visibilitychange` (to visible), `online`, `offline` and `pageshow`; pages may call it too.
   */
  async check() {
    if (this.terminal || !this._started) return false;
    const ws = this._ws;
    if (!ws || !this._ready) {
      if (!ws) this._reconnectNow(); // waiting for a backoff timer: try now
      return false;
    }
    try {
      await this._timeSample(CHECK_TIMEOUT_MS);
      return true;
    } catch (err) {
      if (this._ws === ws && !RETRYABLE.has(err.code)) this._reconnectNow();
      return false;
    }
  }

  _startHeartbeat(intervalMs) {
    clearInterval(this._heartbeatTimer);
    // Browsers cannot see the server's pings, so a dead server shows only as silence: when nothing
    // was heard for an interval, ask for the time, and treat no answer as a dead connection.
    this._heartbeatTimer = setInterval(() => {
      if (!this._ready) return;
      if (Date.now() - this._lastHeard >= intervalMs - 100) this.check();
    }, intervalMs);
    clearInterval(this._clockTimer);
    this._clockTimer = setInterval(() => this._sampleClock(), CLOCK_RESAMPLE_MS);
  }

  _stopTimers() {
    clearInterval(this._heartbeatTimer);
    clearInterval(this._clockTimer);
    this._heartbeatTimer = null;
    this._clockTimer = null;
  }

  // ---------------------------------------------------------------- requests

  /**
   * Sends one request and resolves with its `result`, or rejects with a MakeroomError carrying the
   * server's error code, or `timeout` / `closed` / `offline` from this client.
   */
  request(op, fields = {}, { timeoutMs } = {}) {
    return this._request(op, fields, { timeoutMs });
  }

  _request(op, fields, { timeoutMs, early = false } = {}) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1 || (!early && !this._ready)) {
      return Promise.reject(new MakeroomError('offline', 'not connected'));
    }
    const id = this._nextId++;
    const frame = JSON.stringify({ id, op, ...fields });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this._pending.delete(id)) reject(new MakeroomError('timeout', `no answer to \`${op}\` in time`));
      }, timeoutMs || this.options.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer, ws });
      try {
        ws.send(frame);
      } catch (err) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new MakeroomError('closed', 'the connection was lost', { cause: err }));
      }
    });
  }

  _failPending(error) {
    for (const [id, pending] of this._pending) {
      clearTimeout(pending.timer);
      this._pending.delete(id);
      pending.reject(error);
    }
  }

  /** Reads stored messages, oldest first: `limit` messages with offsets below `before` (or the newest). */
  history(channel, { before, limit } = {}) {
    const fields = { channel };
    if (before !== undefined && before !== null) fields.before = before;
    if (limit !== undefined) fields.limit = limit;
    return this._request('history', fields);
  }

  /** Who is on a channel now. */
  presence(channel) {
    return this._request('presence', { channel });
  }

  // ---------------------------------------------------------------- frames

  _onFrame(frame) {
    switch (frame.type) {
      case 'reply': {
        const pending = this._pending.get(frame.id);
        if (!pending) return;
        this._pending.delete(frame.id);
        clearTimeout(pending.timer);
        if (frame.error) {
          const { code, message, retry_after_ms: retryAfterMs } = frame.error;
          pending.reject(new MakeroomError(code, message, { retryAfterMs }));
        } else {
          pending.resolve(frame.result);
        }
        return;
      }
      case 'pub':
        return this._deliver(frame);
      case 'presence':
        return this._onPresence(frame);
      case 'reset': {
        const sub = this._subs.get(frame.channel);
        if (!sub) return;
        if (sub.snapshot) {
          // A state channel starts over from a fresh snapshot (PROTOCOL.md, "Loading and following state").
          sub.pos = null;
          sub.resetting = true;
          if (this._ready) this._sendSubscribe(sub);
          return;
        }
        // The live push after a reset skips the lost messages on purpose; do not call it a gap.
        sub.skipGap = true;
        this._emit('resync', {
          channel: frame.channel,
          epoch: sub.pos ? sub.pos.epoch : null,
          offset: null,
          reason: 'reset',
        });
        return;
      }
      case 'unsubscribed': {
        // The server ended this subscription (the person left the team, ...): do not subscribe again.
        const sub = this._subs.get(frame.channel);
        if (!sub) return;
        this._subs.delete(frame.channel);
        for (const waiter of sub.waiters.splice(0)) waiter.reject(new MakeroomError('forbidden', frame.reason));
        this._emit('unsubscribed', { channel: frame.channel, reason: frame.reason });
        return;
      }
      case 'token_expiring':
        return this._refreshToken(frame.expires_at);
      case 'closing':
        this._closing = frame;
        return;
      default:
        return; // unknown frames are ignored (forward compatibility)
    }
  }

  // ---------------------------------------------------------------- channels

  /**
   * Subscribes to a channel now and after every reconnect. With `presence: true`, `presence` events
   * keep a list of who is on it. Resolves with the first subscribe result; rejects if the server
   * refuses (then the channel is forgotten).
   *
   * After the first subscribe, and whenever the client cannot recover exactly what was missed, a
   * `resync` event says: reload this channel's messages with `history` up to `offset`.
   *
   * With `snapshot: true` (state channels such as `roster`), a server that has snapshots sends the
   * channel's state instead: the `resync` event then carries `snapshot` (the state as of `offset`),
   * and the events after it follow as `pub` events.
   */
  subscribe(channel, { presence = false, snapshot = false } = {}) {
    let sub = this._subs.get(channel);
    if (!sub) {
      sub = { channel, presence, snapshot, pos: null, members: new Map(), waiters: [], skipGap: false };
      this._subs.set(channel, sub);
    } else {
      sub.presence = presence;
      sub.snapshot = snapshot;
    }
    const promise = new Promise((resolve, reject) => sub.waiters.push({ resolve, reject }));
    if (this._ready) this._sendSubscribe(sub);
    return promise;
  }

  /** Stops receiving a channel. */
  unsubscribe(channel) {
    const sub = this._subs.get(channel);
    if (!sub) return Promise.resolve();
    this._subs.delete(channel);
    for (const waiter of sub.waiters) waiter.reject(new MakeroomError('closed', 'unsubscribed'));
    if (!this._ready) return Promise.resolve();
    return this._request('unsubscribe', { channel }).catch(() => {});
  }

  /** The last {epoch, offset} delivered on a channel, or null. */
  position(channel) {
    const sub = this._subs.get(channel);
    return sub && sub.pos ? { ...sub.pos } : null;
  }

  async _sendSubscribe(sub) {
    const since = sub.pos ? { ...sub.pos } : null;
    const fields = { channel: sub.channel };
    if (since) fields.since = since;
    if (sub.presence) fields.presence = true;
    if (sub.snapshot) fields.snapshot = true;
    const reason = sub.resetting ? 'reset' : since ? 'not_recovered' : 'initial';
    sub.resetting = false;
    const ws = this._ws;
    let result;
    try {
      result = await this._request('subscribe', fields);
    } catch (err) {
      if (this._subs.get(sub.channel) !== sub) return;
      if (RETRYABLE.has(err.code)) {
        // The server is busy: ask again a little later on the same connection.
        setTimeout(() => {
          if (this._ws === ws && this._ready && this._subs.get(sub.channel) === sub) this._sendSubscribe(sub);
        }, err.retryAfterMs || 1000);
        return;
      }
      if (TRANSIENT.has(err.code) || err.code === 'internal') {
        // The connection went: the next connection subscribes again.
        if (err.code === 'timeout' && this._ws === ws) this._reconnectNow();
        return;
      }
      this._subs.delete(sub.channel);
      for (const waiter of sub.waiters.splice(0)) waiter.reject(err);
      this._emit('error', err);
      return;
    }
    if (this._ws !== ws || this._subs.get(sub.channel) !== sub) return;
    const position = { epoch: result.epoch, offset: result.offset };
    if (result.snapshot && result.recovered !== true) {
      // The state as of snapshot.offset, then the events after it as ordinary deliveries.
      sub.pos = { epoch: result.epoch, offset: result.snapshot.offset };
      this._emit('resync', { channel: sub.channel, ...sub.pos, reason, snapshot: result.snapshot.state });
      for (const publication of result.publications || []) this._deliver(publication);
      if (result.offset > sub.pos.offset) sub.pos = position;
    } else if (!since) {
      sub.pos = position;
      this._emit('resync', { channel: sub.channel, ...position, reason });
    } else if (result.recovered === false || result.epoch !== since.epoch) {
      sub.pos = position;
      this._emit('resync', { channel: sub.channel, ...position, reason });
    } else {
      for (const publication of result.publications || []) this._deliver(publication);
      if (sub.pos.epoch === result.epoch && result.offset > sub.pos.offset) sub.pos.offset = result.offset;
    }
    if (result.presence) {
      sub.members = new Map(result.presence.map((member) => [member.id, member]));
      this._emitMembers(sub, 'sync');
    }
    for (const waiter of sub.waiters.splice(0)) waiter.resolve(result);
  }

  /** Delivers a publication once: anything at or below the last delivered offset is dropped. */
  _deliver(publication) {
    const sub = this._subs.get(publication.channel);
    if (!sub || !sub.pos) return;
    const pos = sub.pos;
    if (publication.epoch === pos.epoch && publication.offset <= pos.offset) return;
    const gap = publication.epoch !== pos.epoch || publication.offset > pos.offset + 1;
    sub.pos = { epoch: publication.epoch, offset: publication.offset };
    this._emit('pub', publication);
    if (gap && !sub.skipGap) {
      this._emit('resync', { channel: sub.channel, ...sub.pos, reason: 'gap' });
    }
    sub.skipGap = false;
  }

  _onPresence(frame) {
    const sub = this._subs.get(frame.channel);
    if (!sub || !sub.presence) return;
    if (frame.action === 'join') sub.members.set(frame.member.id, frame.member);
    else if (frame.action === 'leave') sub.members.delete(frame.member.id);
    this._emitMembers(sub, frame.action, frame.member);
  }

  _emitMembers(sub, action, member) {
    const members = [...sub.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this._emit('presence', { channel: sub.channel, action, member, members });
  }

  // ---------------------------------------------------------------- outbox

  /**
   * Publishes `data` ({text, ...}) on a channel, now or, if offline, as soon as the connection is back.
   * The message waits in the outbox (persisted in IndexedDB, so it survives a reload) with an
   * idempotency key made once, so however often it is resent, the server stores it once.
   * Returns the outbox entry {key, channel, data, createdAt, done}; `done` resolves with
   * {epoch, offset, duplicate} when stored, or rejects if the server refuses the message.
   */
  publish(channel, data, { key } = {}) {
    const entry = { key: key || newKey(), channel, data, createdAt: Date.now() };
    this._addToOutbox(entry);
    const done = this._waitFor(entry.key);
    this._emit('outbox', this.outbox);
    this._flush();
    return { ...entry, done };
  }

  /**
   * Sends a command to a state channel (`{type: 'team.join', team}` on `roster`, ...) through the same
   * outbox as publish: kept while offline, sent once with its idempotency key. Returns the entry
   * {key, op: 'command', channel, command, createdAt, done}.
   */
  command(channel, command, { key } = {}) {
    const entry = { key: key || newKey(), op: 'command', channel, command, createdAt: Date.now() };
    this._addToOutbox(entry);
    const done = this._waitFor(entry.key);
    this._emit('outbox', this.outbox);
    this._flush();
    return { ...entry, done };
  }

  /** Messages and commands waiting to be sent, oldest first: [{key, channel, data | command, op?, createdAt}]. */
  get outbox() {
    return this._outbox.map((entry) => ({ ...entry }));
  }

  /** Forgets a waiting message (one the page decided not to send after all). */
  discard(key) {
    const before = this._outbox.length;
    this._removeFromOutbox(key);
    if (this._outbox.length !== before) this._emit('outbox', this.outbox);
  }

  /**
   * Forgets everything that waits to be sent, here and in storage (for signing out of a phone).
   * Each entry's `done` rejects with `discarded`.
   */
  async clearOutbox() {
    await this.outboxLoaded;
    const dropped = this._outbox;
    this._outbox = [];
    for (const entry of dropped) {
      this._gone.add(entry.key);
      const waiter = this._waiters.get(entry.key);
      this._waiters.delete(entry.key);
      if (waiter) waiter.reject(new MakeroomError('discarded', 'taken out of the outbox unsent'));
    }
    await Promise.all([...this._writing.values()]);
    await this._store.clear().catch(() => {});
    this._emit('outbox', this.outbox);
  }

  _waitFor(key) {
    const done = new Promise((resolve, reject) => this._waiters.set(key, { resolve, reject }));
    done.catch(() => {}); // a page that ignores the promise must not see unhandled rejections
    return done;
  }

  async _flush() {
    // Older entries kept from before come first: nothing goes until they are read.
    if (this._flushing || !this._outboxLoaded) return;
    this._flushing = true;
    try {
      while (this._ready && this._outbox.length > 0) {
        const entry = this._outbox[0];
        const writing = this._writing.get(entry.key);
        if (writing) {
          // Stored before it is sent, so that a page closed meanwhile still has it.
          await writing;
          continue;
        }
        const ws = this._ws;
        const command = entry.op === 'command';
        const fields = command
          ? { channel: entry.channel, command: entry.command, key: entry.key }
          : { channel: entry.channel, data: entry.data, key: entry.key };
        let result;
        try {
          result = await this._request(command ? 'command' : 'publish', fields);
        } catch (err) {
          if (RETRYABLE.has(err.code)) {
            await new Promise((resolve) => setTimeout(resolve, err.retryAfterMs || 1000));
            continue;
          }
          if (TRANSIENT.has(err.code) || err.code === 'token_expired' || err.code === 'unauthorized') {
            // Keep it; it goes again, with the same key, on the next connection.
            if (err.code === 'timeout' && this._ws === ws) this._reconnectNow();
            return;
          }
          // The server refuses this message for good (too long, not allowed, ...): give it back.
          this._removeFromOutbox(entry.key);
          const waiter = this._waiters.get(entry.key);
          this._waiters.delete(entry.key);
          if (waiter) waiter.reject(err);
          this._emit('failed', { entry: { ...entry }, error: err });
          this._emit('outbox', this.outbox);
          continue;
        }
        this._removeFromOutbox(entry.key);
        const waiter = this._waiters.get(entry.key);
        this._waiters.delete(entry.key);
        if (waiter) waiter.resolve(result);
        this._emit('sent', { entry: { ...entry }, ...result });
        this._emit('outbox', this.outbox);
      }
    } finally {
      this._flushing = false;
    }
  }

  /** Adds an entry: in this page's list at once, and to the store (the send waits for that). */
  _addToOutbox(entry) {
    this._outbox.push(entry);
    const write = this._store
      .put(entry)
      .catch(() => {}) // storage full or disabled: the entry lives in this page only
      .then(() => {
        if (this._writing.get(entry.key) === write) this._writing.delete(entry.key);
      });
    this._writing.set(entry.key, write);
  }

  _removeFromOutbox(key) {
    this._outbox = this._outbox.filter((entry) => entry.key !== key);
    this._gone.add(key);
    const remove = () => this._store.delete(key).catch(() => {});
    const writing = this._writing.get(key);
    if (writing) writing.then(remove);
    else remove();
  }

  /**
   * Reads the outbox as stored now: at the start, and when another tab of the same person changed it
   * (both tabs may then send one entry; its key keeps it single). Entries this page is still writing
   * stay, and ones it has taken out do not come back.
   */
  async _reloadOutbox() {
    let stored;
    try {
      stored = await this._store.load();
    } catch {
      stored = [];
    }
    const entries = new Map(stored.map((entry) => [entry.key, entry]));
    for (const entry of this._outbox) if (!entries.has(entry.key) && (this._writing.has(entry.key) || !this._outboxLoaded)) entries.set(entry.key, entry);
    for (const key of this._gone) entries.delete(key);
    this._outbox = [...entries.values()];
    this._outboxLoaded = true;
    this._emit('outbox', this.outbox);
    this._flush();
  }

  // ---------------------------------------------------------------- tokens

  async _refreshToken(expiresAt) {
    const ws = this._ws;
    for (let tries = 0; this._ws === ws && !this.terminal; tries++) {
      try {
        const answer = await this.options.getToken();
        const token = typeof answer === 'string' ? answer : answer && answer.token;
        if (this._ws !== ws) return;
        await this._request('refresh', { token });
        return;
      } catch (err) {
        if (err.status === 401) return this._terminate(Status.SIGNED_OUT, err.message);
        if (err.status === 403) return this._terminate(Status.REMOVED, err.message);
        if (err.code === 'forbidden' || err.code === 'unauthorized') {
          // The server will not take this token on this connection; a new connection will tell.
          if (this._ws === ws) this._reconnectNow();
          return;
        }
        // Network trouble: try again until the token runs out (then the server closes with 4001
        // and the ordinary reconnect gets a fresh token).
        const wait = Math.min(5000 * (tries + 1), 20000);
        if (expiresAt && this.serverNow() + wait > expiresAt) return;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  // ---------------------------------------------------------------- clock

  /** The server's clock now, in milliseconds since the epoch (estimated; see `clock`). */
  serverNow() {
    return Date.now() + this._clock.offset;
  }

  /** The clock estimate: {offset (server minus local, ms), rtt (of the sample it comes from, ms)}. */
  get clock() {
    return { offset: this._clock.offset, rtt: this._clock.rtt };
  }

  async _timeSample(timeoutMs) {
    const sentAt = Date.now();
    const result = await this._request('time', {}, { timeoutMs, early: true });
    this._addClockSample(sentAt, Date.now(), result.server_time);
    return result;
  }

  async _sampleClock() {
    if (this._sampling) return;
    this._sampling = true;
    try {
      for (let i = 0; i < CLOCK_BATCH && this._ready; i++) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, CLOCK_SPACING_MS));
        // Sample only with nothing else in flight: a reply queued behind another inflates the rtt.
        if (this._pending.size > 0) continue;
        try {
          await this._timeSample(CHECK_TIMEOUT_MS);
        } catch {
          return;
        }
      }
    } finally {
      this._sampling = false;
    }
  }

  /** Keeps the lowest-rtt sample of the last 15 minutes: its error is at most rtt / 2. */
  _addClockSample(sentAt, receivedAt, serverTime) {
    if (typeof serverTime !== 'number') return;
    const rtt = Math.max(0, receivedAt - sentAt);
    const offset = serverTime - (sentAt + receivedAt) / 2;
    const now = Date.now();
    const samples = this._clock.samples.filter((s) => now - s.at < CLOCK_WINDOW_MS && s.at <= now);
    samples.push({ rtt, offset, at: now });
    if (samples.length > 32) samples.shift();
    let best = samples[0];
    for (const sample of samples) if (sample.rtt < best.rtt) best = sample;
    const changed = Math.round(best.offset) !== Math.round(this._clock.offset) || best.rtt !== this._clock.rtt;
    this._clock = { offset: best.offset, rtt: best.rtt, samples };
    if (changed) this._emit('clock', this.clock);
  }
}
