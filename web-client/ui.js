// ui.js: small helpers shared by Makeroom's pages (not part of the client library).

import { Status } from './makeroom.js';

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

/** "14:05" today, "Sat 14:05" on other days, in the viewer's time zone. */
export function formatTime(ts) {
  const date = new Date(ts);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (new Date().toDateString() === date.toDateString()) return time;
  return `${date.toLocaleDateString([], { weekday: 'short' })} ${time}`;
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

/** Shows `?event=ID` in the address instead of the link, so a reload finds the stored session. */
export function showEventInAddress(eventId) {
  history.replaceState(null, '', `${location.pathname}?event=${encodeURIComponent(eventId)}`);
}

// ------------------------------------------------------------------ connection status

const STATUS_TEXT = {
  [Status.CONNECTING]: ['…', 'Connecting…'],
  [Status.ONLINE]: ['✓', 'Live'],
  [Status.RECONNECTING]: ['↻', 'Connection lost. Reconnecting…'],
  [Status.OFFLINE]: ['⚠', 'You are offline.'],
  [Status.SIGNED_OUT]: ['✕', 'Signed out.'],
  [Status.REMOVED]: ['✕', 'You are no longer part of this event.'],
  [Status.CLOSED]: ['✕', 'Disconnected.'],
};

/**
 * Keeps `element` (a role="status" live region) telling the connection's state in words and a symbol,
 * never by colour alone. `waiting` (optional) returns how many messages and commands wait to be sent.
 */
export function showStatus(element, client, { waiting, quietWhenOnline = true } = {}) {
  // The region stays in the page (collapsed when quiet) so that screen readers keep listening to it.
  let wasDown = false;
  let backTimer = null;
  const quiet = () => {
    element.classList.add('quiet');
    element.textContent = '';
  };
  const render = (status) => {
    clearTimeout(backTimer);
    const [symbol, text] = STATUS_TEXT[status] || ['?', status];
    let words = text;
    const count = waiting ? waiting() : 0;
    if ((status === Status.RECONNECTING || status === Status.OFFLINE) && count > 0) {
      // Chat messages and changes (board moves, acknowledgements, ...) wait in the same outbox.
      const changes = client.outbox.filter((entry) => entry.op === 'command').length;
      const messages = Math.max(0, count - changes);
      const parts = [];
      if (messages) parts.push(messages === 1 ? '1 message' : `${messages} messages`);
      if (changes) parts.push(changes === 1 ? '1 change' : `${changes} changes`);
      words += ` ${parts.join(' and ') || `${count} waiting`} will be sent when you are back.`;
    } else if (status === Status.OFFLINE) {
      words += ' Messages you write and changes you make will be sent when you are back.';
    }
    element.dataset.status = status;
    if (status === Status.ONLINE) {
      if (wasDown) {
        words = 'Back online.';
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
  client.on('outbox', () => {
    if (client.status === Status.RECONNECTING || client.status === Status.OFFLINE) render(client.status);
  });
}

// ------------------------------------------------------------------ announcements

export function isUrgent(item) {
  const data = item && item.data ? item.data : item;
  return Boolean(data && data.priority === 'urgent');
}

/**
 * Turns the publications of `announcements` into announcements, newest first. Two shapes exist: a
 * published message `{text, priority}` (PROTOCOL.md), and events from servers that keep
 * announcements as state: `{type: "posted", id, text, priority, pinned}`, then `pinned` / `unpinned`
 * naming an id. Other events (`acknowledged`, ...) change nothing shown here.
 */
export function foldAnnouncements(publications, base = []) {
  const byId = new Map();
  const items = [];
  for (const item of base) {
    const copy = { ...item, acknowledged_by: (item.acknowledged_by || []).slice() };
    byId.set(copy.id, copy);
    items.push(copy);
  }
  for (const publication of [...publications].sort((a, b) => a.offset - b.offset)) {
    const data = publication.data || {};
    if (data.type === 'pinned' || data.type === 'unpinned') {
      const item = byId.get(data.id);
      if (item) item.pinned = data.type === 'pinned';
      continue;
    }
    if (data.type === 'acknowledged') {
      const item = byId.get(data.id);
      if (item && !item.acknowledged_by.includes(data.participant)) item.acknowledged_by = item.acknowledged_by.concat([data.participant]);
      continue;
    }
    if (data.type && data.type !== 'posted') continue;
    if (typeof data.text !== 'string') continue;
    const item = {
      id: data.id || `offset-${publication.offset}`,
      offset: publication.offset,
      text: data.text,
      priority: data.priority === 'urgent' ? 'urgent' : 'normal',
      pinned: Boolean(data.pinned),
      from: publication.from,
      ts: publication.ts,
      acknowledged_by: [],
    };
    if (byId.has(item.id)) continue;
    byId.set(item.id, item);
    items.push(item);
  }
  return items.sort((a, b) => b.ts - a.ts || b.offset - a.offset);
}

/** Announcements from a snapshot of `announcements` ({announcements: [{id, text, priority, pinned, at}]}). */
export function announcementsFromSnapshot(state) {
  return ((state && state.announcements) || []).map((a) => ({
    id: a.id,
    offset: 0,
    text: a.text,
    priority: a.priority === 'urgent' ? 'urgent' : 'normal',
    pinned: Boolean(a.pinned),
    from: null,
    by: a.by,
    ts: a.at,
    acknowledged_by: (a.acknowledged_by || []).slice(),
  }));
}

/** Newest first, but pinned ones come right after the newest, so that they stay in view. */
export function newestThenPinned(items) {
  if (items.length === 0) return items;
  const [newest, ...rest] = items;
  return [newest, ...rest.filter((item) => item.pinned), ...rest.filter((item) => !item.pinned)];
}

/**
 * Subscribes to `announcements`, with a snapshot where the server keeps announcements as state;
 * servers that refuse the snapshot get a plain subscription (then history fills the page).
 */
export function subscribeAnnouncements(client) {
  client.subscribe('announcements', { snapshot: true }).catch((err) => {
    if (err.code === 'bad_request') client.subscribe('announcements').catch(() => {});
  });
}

/**
 * One announcement (from foldAnnouncements) as a list item; urgency is said in words, not just colour.
 * With `onAck` and `meId` (a participant's page), an urgent announcement gets a "Got it" button until
 * this person has acknowledged it. `names(id)` names who posted it when the item only has an id.
 */
export function announcementItem(item, { tag = 'li', onAck = null, meId = null, names = null } = {}) {
  const urgent = item.priority === 'urgent';
  const acked = urgent && meId && (item.acknowledged_by || []).includes(meId);
  const from = item.from ? item.from.name : item.by && item.by !== 'system' && names ? names(item.by) || 'Organisers' : 'Organisers';
  return h(
    tag,
    { class: urgent ? 'announcement urgent' : 'announcement', 'data-offset': String(item.offset) },
    urgent ? h('strong', { class: 'tag' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), 'Urgent') : null,
    item.pinned ? h('strong', { class: 'tag pinned' }, h('span', { 'aria-hidden': 'true', text: urgent ? ' · ' : '' }), 'Pinned') : null,
    h('p', { class: 'announcement-text', text: item.text }),
    h(
      'p',
      { class: 'meta' },
      `${from} · `,
      h('time', { datetime: new Date(item.ts).toISOString(), text: formatTime(item.ts) }),
    ),
    urgent && onAck && !acked && !String(item.id).startsWith('offset-')
      ? h('button', { type: 'button', class: 'ack', 'data-focus': `ack:${item.id}`, 'aria-label': `Got it: ${item.text.slice(0, 60)}`, onclick: (event) => onAck(item, event.currentTarget) }, '✓ Got it')
      : null,
    acked && onAck ? h('p', { class: 'acked', tabindex: '-1', 'data-focus': `ack:${item.id}`, text: '✓ You acknowledged this.' }) : null,
  );
}

/** The text to read out for a new announcement publication, or null if it shows nothing new. */
export function announcementSpeech(publication) {
  const [item] = foldAnnouncements([publication]);
  if (!item) return null;
  return { text: `${item.priority === 'urgent' ? 'Urgent announcement' : 'Announcement'}: ${item.text}`, urgent: item.priority === 'urgent' };
}

/**
 * Loads a channel's newest `limit` messages up to `offset` into `into` (a Map offset -> publication),
 * retrying once the connection is back if it is lost meanwhile.
 */
export async function loadHistory(client, channel, { offset, limit = 50 }, into) {
  const before = offset === null || offset === undefined ? undefined : offset + 1;
  const result = await client.history(channel, { before, limit });
  for (const publication of result.publications) into.set(publication.offset, publication);
  return result;
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
