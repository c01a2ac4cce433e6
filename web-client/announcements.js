// announcements.js: the `announcements` channel, for every page that shows it (the room, the
// organiser's console and the display). AnnouncementFeed follows the channel: a snapshot where the
// server keeps announcements as state, else the history, then each new publication; the functions
// below fold either shape into announcements and draw one.

import { Status } from './makeroom.js';
import { announce, formatTime, h, HistoryReload } from './ui.js';
import { bothTexts, langOf, localText, t } from './i18n.js';

/**
 * The announcements as this page knows them, kept up to date from `client`. `onChange()` runs after
 * every change; `items()` gives the announcements then, newest first, and `fresh` is the offset of
 * the last one that arrived live. With `speak`, each new one is read out to screen readers.
 */
export class AnnouncementFeed {
  constructor(client, { limit = 50, speak = false, onChange = () => {} } = {}) {
    this.client = client;
    this.speak = speak;
    this.onChange = onChange;
    this.publications = new Map(); // offset -> publication
    this.base = []; // from a snapshot, where the server sends one
    this.fresh = null;
    this.live = false; // a snapshot or the history has come from the server
    this.restored = false; // `base` holds what a page saved, not what the server sent
    // Pins and acknowledgements take offsets too, so `limit` publications hold fewer announcements.
    this.reload = new HistoryReload(client, 'announcements', { limit });
  }

  /** Listens to the client and subscribes; call before client.connect(). */
  start() {
    const client = this.client;
    client.on('resync', (event) => {
      if (event.channel !== 'announcements') return;
      if (event.snapshot) {
        this.base = announcementsFromSnapshot(event.snapshot);
        this.restored = false;
        this.live = true;
        this.publications.clear();
        this.reload.cancel();
        this.onChange();
        return;
      }
      if (this.restored || (event.reason !== 'initial' && event.reason !== 'gap')) {
        this.restored = false;
        this.publications.clear();
        this.base = [];
      }
      this.reload.ask(event.offset);
      this.load();
    });
    client.on('pub', (publication) => {
      if (publication.channel !== 'announcements') return;
      this.publications.set(publication.offset, publication);
      this.fresh = publication.offset;
      this.onChange();
      const speech = this.speak ? announcementSpeech(publication) : null;
      if (speech) announce(speech.text, { urgent: speech.urgent });
    });
    client.on('status', ({ status }) => {
      if (status === Status.ONLINE) this.load();
    });
    subscribeAnnouncements(client);
    return this;
  }

  async load() {
    const result = await this.reload.load();
    if (!result) return;
    for (const publication of result.publications) this.publications.set(publication.offset, publication);
    this.live = true;
    this.onChange();
  }

  /** Shows announcements a page saved (from `items()`), until the server's come. */
  restore(items) {
    if (this.live || !Array.isArray(items)) return;
    this.base = items.map((item) => ({ ...item, acknowledged_by: (item.acknowledged_by || []).slice() }));
    this.restored = true;
    this.onChange();
  }

  /**
   * The announcements, newest first (foldAnnouncements). Retracted ones are taken back: no page shows
   * them, except the console with `{ retracted: true }`, for the record.
   */
  items({ retracted = false } = {}) {
    const all = foldAnnouncements([...this.publications.values()], this.base);
    return retracted ? all : all.filter((item) => !item.retracted);
  }
}

/**
 * Turns the publications of `announcements` into announcements, newest first. Two shapes exist: a
 * published message `{text, priority}` (PROTOCOL.md), and events from servers that keep
 * announcements as state: `{type: "posted", id, text, priority, pinned}`, then `pinned` / `unpinned`,
 * `acknowledged`, `edited` (what it says now, whole) and `retracted` naming an id. An edited one
 * takes the edit's offset, so that pages show it as news; a retracted one has `retracted` set.
 */
export function foldAnnouncements(publications, base = []) {
  const byId = new Map();
  const items = [];
  for (const item of base) {
    const copy = { edited: null, retracted: null, ...item, acknowledged_by: (item.acknowledged_by || []).slice() };
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
    if (data.type === 'edited' || data.type === 'retracted') {
      const item = byId.get(data.id);
      if (!item) continue;
      const stamp = { at: publication.ts, by: publication.from ? publication.from.id : null };
      if (data.type === 'retracted') {
        item.retracted = stamp;
        continue;
      }
      item.text = String(data.text);
      item.text_cy = typeof data.text_cy === 'string' ? data.text_cy : null;
      item.priority = data.priority === 'urgent' ? 'urgent' : 'normal';
      item.pinned = Boolean(data.pinned);
      if (data.clears_acknowledgements) item.acknowledged_by = [];
      item.edited = stamp;
      item.offset = publication.offset;
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
      text_cy: typeof data.text_cy === 'string' ? data.text_cy : null,
      priority: data.priority === 'urgent' ? 'urgent' : 'normal',
      pinned: Boolean(data.pinned),
      from: publication.from,
      ts: publication.ts,
      acknowledged_by: [],
      edited: null,
      retracted: null,
    };
    if (byId.has(item.id)) continue;
    byId.set(item.id, item);
    items.push(item);
  }
  return items.sort((a, b) => b.ts - a.ts || b.offset - a.offset);
}

/** Announcements from a snapshot of `announcements` ({announcements: [{id, text, priority, pinned, at}]}). */
function announcementsFromSnapshot(state) {
  return ((state && state.announcements) || []).map((a) => ({
    id: a.id,
    offset: 0,
    text: a.text,
    text_cy: a.text_cy || null,
    priority: a.priority === 'urgent' ? 'urgent' : 'normal',
    pinned: Boolean(a.pinned),
    from: null,
    by: a.by,
    ts: a.at,
    acknowledged_by: (a.acknowledged_by || []).slice(),
    edited: a.edited || null,
    retracted: a.retracted || null,
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
function subscribeAnnouncements(client) {
  client.subscribe('announcements', { snapshot: true }).catch((err) => {
    if (err.code === 'bad_request') client.subscribe('announcements').catch(() => {});
  });
}

/**
 * An announcement's words: in the reader's language on a phone (one `<p>`), or both languages one
 * above the other in the event's order with `both` (the projector), each with its `lang`.
 */
function announcementText(item, both) {
  const texts = both ? bothTexts(item.text, item.text_cy) : [localText(item.text, item.text_cy)];
  return texts.map(({ text, lang }, index) => h('p', { class: index ? 'announcement-text second-language' : 'announcement-text', lang: langOf(lang), text }));
}

/**
 * One announcement (from foldAnnouncements) as a list item; urgency is said in words, not just colour.
 * With `onAck` and `meId` (a participant's page), an urgent announcement gets a "Got it" button until
 * this person has acknowledged it. `names(id)` names who posted it when the item only has an id.
 */
export function announcementItem(item, { tag = 'li', onAck = null, meId = null, names = null, both = false } = {}) {
  const urgent = item.priority === 'urgent';
  const acked = urgent && meId && (item.acknowledged_by || []).includes(meId);
  const organisers = t('announcements.organisers');
  const from = item.from ? item.from.name : item.by && item.by !== 'system' && names ? names(item.by) || organisers : organisers;
  const shown = localText(item.text, item.text_cy).text;
  return h(
    tag,
    { class: `announcement${urgent ? ' urgent' : ''}${both && item.text_cy ? ' bilingual' : ''}`, 'data-offset': String(item.offset) },
    urgent ? h('strong', { class: 'tag' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), t('announcements.urgent')) : null,
    item.pinned ? h('strong', { class: 'tag pinned' }, h('span', { 'aria-hidden': 'true', text: urgent ? ' · ' : '' }), t('announcements.pinned')) : null,
    announcementText(item, both),
    h(
      'p',
      { class: 'meta' },
      `${from} · `,
      h('time', { datetime: new Date(item.ts).toISOString(), text: formatTime(item.ts) }),
      item.edited ? h('span', { class: 'edited', text: ` · ${t('announcements.edited', { time: formatTime(item.edited.at) })}` }) : null,
    ),
    urgent && onAck && !acked && !String(item.id).startsWith('offset-')
      ? h('button', { type: 'button', class: 'ack', 'data-focus': `ack:${item.id}`, 'aria-label': `${t('announcements.gotIt')}: ${shown.slice(0, 60)}`, onclick: (event) => onAck(item, event.currentTarget) }, `✓ ${t('announcements.gotIt')}`)
      : null,
    acked && onAck ? h('p', { class: 'acked', tabindex: '-1', 'data-focus': `ack:${item.id}`, text: `✓ ${t('announcements.acked')}` }) : null,
  );
}

/** The text to read out for a new announcement publication, or null if it shows nothing new. */
function announcementSpeech(publication) {
  const data = publication.data || {};
  if (data.type === 'edited' && typeof data.text === 'string') {
    return { text: t('announcements.changed', { text: localText(data.text, data.text_cy).text }), urgent: data.priority === 'urgent' };
  }
  const [item] = foldAnnouncements([publication]);
  if (!item) return null;
  const text = localText(item.text, item.text_cy).text;
  return { text: t(item.priority === 'urgent' ? 'announcements.saidUrgent' : 'announcements.said', { text }), urgent: item.priority === 'urgent' };
}
