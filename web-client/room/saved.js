// room/saved.js: what this phone last saw of the event, kept in IndexedDB, so that a room opened
// with no network (reloaded in a dead spot, opened from the home screen) shows the chats, the board,
// the briefs, the teams, the schedule and the announcements as they were, said to be not live,
// instead of an empty page. One record per person and event, written a moment after each change and
// when the page is hidden, read once when the room opens, deleted on signing out. It only ever
// holds what the server sent this person; the server's snapshots replace it once the connection is
// back. The outbox is not here: makeroom.js keeps it.

const DATABASE = 'makeroom-rooms';
const STORE = 'rooms';
const WRITE_AFTER_MS = 800; // a burst of messages is written once
const BY_CHANNEL = new Set(['chats', 'boards']); // parts kept per channel: a new one adds to the old

let opening = null;
function database() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      if (!globalThis.indexedDB) return reject(new Error('no IndexedDB'));
      const request = indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'id' });
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => db.close();
        resolve(db);
      };
      request.onerror = () => reject(request.error);
    }).catch(() => null); // private mode and the like: the room works, it only forgets
  }
  return opening;
}

function run(mode, work) {
  return database().then(
    (db) =>
      db &&
      new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const request = work(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('aborted'));
      }),
  );
}

/**
 * The saved room of one person at one event. `collect()` gives what the page shows live now, part
 * by part (`roster`, `briefs`, `schedule`, `help`, `outputs`, `announcements`, and `boards` and `chats` by
 * channel); a part that is null (not loaded live yet) keeps what was saved before.
 */
export class SavedRoom {
  constructor(eventId, participantId, collect) {
    this.id = `${eventId}:${participantId}`;
    this.collect = collect;
    this.last = null; // the record as last read or written
    this.savedAt = null;
    this.timer = null;
    this.forgotten = false;
    const now = () => this.save();
    window.addEventListener('pagehide', now);
    document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && now());
  }

  /** The record saved before, or null. */
  async load() {
    try {
      this.last = (await run('readonly', (store) => store.get(this.id))) || null;
    } catch {
      this.last = null;
    }
    return this.last;
  }

  /** Something shown changed: write it a moment later. */
  changed() {
    if (this.timer || this.forgotten) return;
    this.timer = setTimeout(() => this.save(), WRITE_AFTER_MS);
  }

  async save() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.forgotten) return;
    const now = this.collect();
    const record = { ...(this.last || {}), id: this.id };
    let any = false;
    for (const [part, value] of Object.entries(now)) {
      if (value === null || value === undefined) continue;
      record[part] = BY_CHANNEL.has(part) ? { ...(record[part] || {}), ...value } : value;
      any = true;
    }
    if (!any) return;
    record.savedAt = Date.now();
    try {
      await run('readwrite', (store) => store.put(record));
      this.last = record;
      this.savedAt = record.savedAt;
    } catch {
      // storage full: the last record stays
    }
  }

  /** Deletes the record (signing out, removed from the event) and writes no more. */
  async forget() {
    this.forgotten = true;
    clearTimeout(this.timer);
    this.last = null;
    try {
      await run('readwrite', (store) => store.delete(this.id));
    } catch {
      // nothing was kept
    }
  }
}
