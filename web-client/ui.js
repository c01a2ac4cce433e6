// ui.js: small helpers shared by Makeroom's pages (not part of the client library).

import { Makeroom, Status, api, tokenSource } from './makeroom.js';
import { dateFormat, dayOf, list, onLanguageChange, t, weekdayName } from './i18n.js';

/** Creates an element: h('p', {class: 'x', text: 'hi', onclick: fn, 'aria-label': '…'}, ...children). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else if (name === 'class') node.className = value;
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== 'string') node[name] = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Replaces an element's children (Element.replaceChildren is too new for older phones). */
export function setChildren(element, ...children) {
  element.textContent = '';
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
}

let liveRegions = null;

/**
 * Says `text` to screen readers through a visually hidden live region that is always in the page
 * (regions that appear together with their text are often not read). Urgent text interrupts.
 */
export function announce(text, { urgent = false } = {}) {
  if (!liveRegions) {
    liveRegions = {
      polite: h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' }),
      assertive: h('div', { class: 'visually-hidden', role: 'alert', 'aria-live': 'assertive' }),
    };
    document.body.append(liveRegions.polite, liveRegions.assertive);
  }
  const region = urgent ? liveRegions.assertive : liveRegions.polite;
  region.textContent = '';
  // A moment later, so that the same text twice is still read twice.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** "14:05" today, "Sat 14:05" / "Sad 14:05" on other days, in the reader's language and the event's time zone. */
export function formatTime(ts) {
  const date = new Date(ts);
  const time = dateFormat({ hour: '2-digit', minute: '2-digit' }).format(date);
  if (dayOf(Date.now()) === dayOf(ts)) return time;
  return `${weekdayName(ts, { long: false })} ${time}`;
}

/** A time as the value of an <input type="datetime-local"> (local time, to the minute). */
export function toLocalInput(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The time an <input type="datetime-local"> holds, in ms, or null when it holds none. */
export function fromLocalInput(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || '');
  if (!match) return null;
  const [, y, mo, d, hh, mm] = match.map(Number);
  return new Date(y, mo - 1, d, hh, mm).getTime();
}

/** Splits "design, Rust ,writing" into its items, as every form that takes a list of skills does. */
export function parseList(text) {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** What is wrong with a person's skills (at most 12, each at most 30 characters), or '' if nothing. */
export function skillsProblem(skills) {
  const long = skills.find((skill) => skill.length > 30);
  if (skills.length > 12) return t('skills.tooMany');
  return long ? t('skills.tooLong', { skill: long.slice(0, 20) }) : '';
}

// ------------------------------------------------------------------ sessions
//
// A session is what a browser keeps to come back to an event without joining again: the refresh
// token and who it names. One per role and event: `makeroom:session:{role}:{eventId}`.

const PREFIX = 'makeroom:';

function store() {
  try {
    return globalThis.localStorage;
  } catch {
    return null;
  }
}

export function saveSession(role, session) {
  const storage = store();
  if (!storage) return;
  try {
    storage.setItem(`${PREFIX}session:${role}:${session.event.id}`, JSON.stringify(session));
    storage.setItem(`${PREFIX}last:${role}`, session.event.id);
  } catch {
    // storage full or disabled: the page works until it is closed
  }
}

export function loadSession(role, eventId) {
  const storage = store();
  if (!storage || !eventId) return null;
  try {
    const session = JSON.parse(storage.getItem(`${PREFIX}session:${role}:${eventId}`) || 'null');
    if (!session || !session.refresh_token) return null;
    if (session.refresh_expires_at && session.refresh_expires_at * 1000 < Date.now()) return null;
    return session;
  } catch {
    return null;
  }
}

export function forgetSession(role, eventId) {
  const storage = store();
  if (!storage) return;
  storage.removeItem(`${PREFIX}session:${role}:${eventId}`);
  if (storage.getItem(`${PREFIX}last:${role}`) === eventId) storage.removeItem(`${PREFIX}last:${role}`);
}

/** The session named by `?event=` in the address, else the one used last for this role. */
export function currentSession(role) {
  const eventId = new URLSearchParams(location.search).get('event');
  if (eventId) return loadSession(role, eventId);
  const storage = store();
  return storage ? loadSession(role, storage.getItem(`${PREFIX}last:${role}`)) : null;
}

/**
 * Reads `#refresh=…&code=…` from the address and removes the fragment at once, so the token does not
 * stay in the address bar, the history or a screenshot. Keeps it in sessionStorage until the page
 * has traded it, so a reload in between does not lose it.
 */
export function takeLinkToken(role) {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const pendingKey = `${PREFIX}pending:${role}`;
  let refresh = params.get('refresh');
  const code = params.get('code');
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  try {
    if (refresh) sessionStorage.setItem(pendingKey, JSON.stringify({ refresh, code }));
    else {
      const pending = JSON.parse(sessionStorage.getItem(pendingKey) || 'null');
      if (pending) return pending;
    }
  } catch {
    // sessionStorage disabled
  }
  return refresh ? { refresh, code } : null;
}

export function clearLinkToken(role) {
  try {
    sessionStorage.removeItem(`${PREFIX}pending:${role}`);
  } catch {
    // sessionStorage disabled
  }
}

/**
 * Signs in a page opened from a link with `#refresh=…&code=…` (the organiser's console, a display):
 * trades the link's refresh token at `POST /api/token` and keeps the session, or, without a link,
 * takes the session kept from before. Returns `{session, first}`, where `first` is the traded
 * token, for the client's first connection; or null, once `say(text)` has said why not. `texts` says
 * it: `none` (no link and no session), `expired` (401), `removed` (403) and `unreachable`. `refuse`
 * may turn the answer down with a reason.
 */
export async function signInFromLink(role, { say, texts, refuse = () => null }) {
  const link = takeLinkToken(role);
  if (!link) {
    const session = currentSession(role);
    if (!session) say(texts.none);
    return session ? { session, first: null } : null;
  }
  let answer;
  try {
    answer = await api('/api/token', { method: 'POST', body: { refresh_token: link.refresh } });
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      clearLinkToken(role);
      say(err.status === 401 ? texts.expired : texts.removed);
    } else {
      say(texts.unreachable);
    }
    return null;
  }
  clearLinkToken(role);
  const refused = refuse(answer);
  if (refused) {
    say(refused);
    return null;
  }
  const before = loadSession(role, answer.event.id);
  const session = {
    refresh_token: link.refresh,
    participant: answer.participant,
    event: answer.event,
    code: link.code || (before && before.code) || null,
  };
  saveSession(role, session);
  showEventInAddress(answer.event.id);
  return { session, first: answer };
}

/**
 * The client of a session from signInFromLink, and its token source. The first connection uses the
 * token that the link was traded for, so the refresh token is not traded twice at once.
 */
export function clientFromLink({ session, first }) {
  const source = tokenSource(session.refresh_token);
  let firstToken = first;
  const client = new Makeroom({
    getToken: async () => {
      if (firstToken) {
        const answer = firstToken;
        firstToken = null;
        return answer;
      }
      return source();
    },
    outboxKey: `makeroom:outbox:${session.event.id}:${session.participant.id}`,
  });
  return { client, source };
}

/** Shows `?event=ID` in the address instead of the link, so a reload finds the stored session. */
export function showEventInAddress(eventId) {
  history.replaceState(null, '', `${location.pathname}?event=${encodeURIComponent(eventId)}`);
}

// ------------------------------------------------------------------ connection status

const STATUS_TEXT = {
  [Status.CONNECTING]: ['…', 'status.connecting'],
  [Status.ONLINE]: ['✓', 'status.online'],
  [Status.RECONNECTING]: ['↻', 'status.reconnecting'],
  [Status.OFFLINE]: ['⚠', 'status.offline'],
  [Status.SIGNED_OUT]: ['✕', 'status.signedout'],
  [Status.REMOVED]: ['✕', 'status.removed'],
  [Status.CLOSED]: ['✕', 'status.closed'],
};

/**
 * Keeps `element` (a role="status" live region) telling the connection's state in words and a symbol,
 * never by colour alone. `waiting` (optional) returns how many messages and commands wait to be sent;
 * `note` (optional) returns words to add while not online (what the page shows meanwhile).
 */
export function showStatus(element, client, { waiting, note, quietWhenOnline = true } = {}) {
  // The region stays in the page (collapsed when quiet) so that screen readers keep listening to it.
  let wasDown = false;
  let backTimer = null;
  const quiet = () => {
    element.classList.add('quiet');
    element.textContent = '';
  };
  const render = (status) => {
    clearTimeout(backTimer);
    const [symbol, key] = STATUS_TEXT[status] || ['?', status];
    let words = t(key);
    const count = waiting ? waiting() : 0;
    if ((status === Status.RECONNECTING || status === Status.OFFLINE) && count > 0) {
      // Chat messages and changes (board moves, acknowledgements, ...) wait in the same outbox.
      const changes = client.outbox.filter((entry) => entry.op === 'command').length;
      const messages = Math.max(0, count - changes);
      const parts = [];
      if (messages) parts.push(t('status.messages', { count: messages }));
      if (changes) parts.push(t('status.changes', { count: changes }));
      words += ` ${t('status.willBeSent', { what: list(parts) || t('status.waiting', { count }) })}`;
    } else if (status === Status.OFFLINE) {
      words += ` ${t('status.offlineHint')}`;
    }
    const more = note && status !== Status.ONLINE ? note() : '';
    if (more) words += ` ${more}`;
    element.dataset.status = status;
    if (status === Status.ONLINE) {
      if (wasDown) {
        words = t('status.back');
        element.dataset.status = 'back';
        backTimer = setTimeout(() => {
          element.dataset.status = 'online';
          if (quietWhenOnline) quiet();
        }, 4000);
      } else if (quietWhenOnline) {
        quiet();
        return;
      }
      wasDown = false;
    } else if (status !== Status.CONNECTING) {
      wasDown = true;
    }
    element.hidden = false;
    element.classList.remove('quiet');
    setChildren(element, h('span', { class: 'status-symbol', 'aria-hidden': 'true', text: symbol }), ` ${words}`);
  };
  render(client.status);
  client.on('status', ({ status }) => render(status));
  onLanguageChange(() => {
    if (!element.classList.contains('quiet')) render(client.status);
  });
  client.on('outbox', () => {
    if (client.status === Status.RECONNECTING || client.status === Status.OFFLINE) render(client.status);
  });
  return { refresh: () => render(client.status) };
}

// ------------------------------------------------------------------ the installable app

/**
 * Registers the service worker (sw.js), which keeps this build's pages for opening with no network.
 * Browsers without service workers, and pages not in a secure context, simply do without.
 */
export function keepForOffline() {
  if (!('serviceWorker' in navigator) || !globalThis.isSecureContext) return;
  navigator.serviceWorker.register('/sw.js').catch(() => {
    // no worker: the pages work as before, online only
  });
  // A page that loaded while the worker was still installing (the join page went on to the room
  // meanwhile) is not one the worker took over when it started: it asks to be.
  navigator.serviceWorker.ready.then((registration) => {
    if (!navigator.serviceWorker.controller && registration.active) registration.active.postMessage({ type: 'claim' });
  });
}

// ------------------------------------------------------------------ reloading from history

/**
 * A channel's reload from history after a `resync`: its newest `limit` messages up to an offset.
 * Asking again replaces an older ask, and an answer to a replaced ask is dropped. A load that fails
 * (offline) stays asked for: the page calls load() again once the connection is back.
 */
export class HistoryReload {
  constructor(client, channel, { limit }) {
    this.client = client;
    this.channel = channel;
    this.limit = limit;
    this.wanted = null; // {offset, loading}
  }

  /** Asks for the messages up to `offset` (null: the newest). */
  ask(offset) {
    this.wanted = { offset };
  }

  cancel() {
    this.wanted = null;
  }

  get pending() {
    return this.wanted !== null;
  }

  /** Loads what was asked for: the history result, or null if nothing was loaded. */
  async load() {
    const want = this.wanted;
    if (!want || want.loading) return null;
    want.loading = true;
    let result;
    try {
      const before = want.offset === null || want.offset === undefined ? undefined : want.offset + 1;
      result = await this.client.history(this.channel, { before, limit: this.limit });
    } catch {
      want.loading = false;
      return null; // not connected now: loaded when the connection is back
    }
    if (this.wanted !== want) return null;
    this.wanted = null;
    return result;
  }
}

/** Puts text on the clipboard; falls back to selecting an input's text. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}
