// room/announcements.js: the announcements above the room's sections, kept small on a phone. Urgent
// ones stay whole with "Got it" until this person has acknowledged them, and otherwise the newest, or
// a pinned one, is shown whole until it has been read; read ones take one line ("Show all" opens one), pinned ones
// first, two lines at most, so the chat keeps the screen. The rest fold away under "Earlier
// announcements". An announcement counts as read once this person has acknowledged it, opened or
// closed it ("Show less"), or had it in view for a while around touching the page (so a phone lying
// on the table does not read them); which ones are read is kept on the phone.

import { AnnouncementFeed, announcementItem, newestThenPinned } from '../announcements.js';
import { $, h, setChildren } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';
import { onLanguageChange, t } from '../i18n.js';

const READ_AFTER_MS = 12000; // in view this long, with the page touched around then
const TOUCHED_BEFORE_MS = 30000; // a touch this long before it came counts: the phone was in hand
const LINES = 2; // one-line announcements shown before the rest fold away
const REMEMBER = 300; // read ids kept

/** The ids of the announcements this person has read, kept per person and event. */
function readStore(key) {
  let ids = new Set();
  try {
    ids = new Set(JSON.parse(localStorage.getItem(key) || '[]'));
  } catch {
    // a new list
  }
  return {
    has: (id) => ids.has(id),
    add(id) {
      if (ids.has(id)) return false;
      ids.add(id);
      try {
        localStorage.setItem(key, JSON.stringify([...ids].slice(-REMEMBER)));
      } catch {
        // remembered for this page only
      }
      return true;
    },
  };
}

/** Sets up the room's announcements; `start()` subscribes. */
export function roomAnnouncements(room) {
  const { client, me } = room;
  const expanded = new Set(); // ids of one-line announcements opened whole
  const read = readStore(`makeroom:read:${room.eventId}:${me.id}`);
  let touchedAt = 0; // when this person last touched the page (this phone's clock)
  const shownSince = new Map(); // id -> when it was first shown whole (this phone's clock)
  let readTimer = null;
  const markRead = (id) => {
    if (read.add(id)) render();
  };
  for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, () => (touchedAt = Date.now()), { capture: true, passive: true });

  const ack = (item, button) => {
    button.disabled = true;
    button.textContent = t('chat.sending');
    read.add(item.id);
    client.command('announcements', { type: 'announcement.ack', announcement: item.id });
  };
  const render = () => {
    const acking = new Set(client.outbox.filter((e) => e.channel === 'announcements' && e.command && e.command.type === 'announcement.ack').map((e) => e.command.announcement));
    const folded = feed.items().map((item) => (acking.has(item.id) ? { ...item, acknowledged_by: item.acknowledged_by.concat([me.id]) } : item));
    const ordered = newestThenPinned(folded);
    const needsAck = (item) => item.priority === 'urgent' && !item.acknowledged_by.includes(me.id);
    const whole = ordered.filter(needsAck);
    // Shown whole until read: the newest, or a pinned one, and not while an urgent one waits for "Got it".
    const unread = whole.length ? null : ordered.find((item, index) => (index === 0 || item.pinned) && !read.has(item.id));
    if (unread) whole.push(unread);
    const lines = ordered.filter((item) => !whole.includes(item) && item.pinned).slice(0, LINES);
    const newestRead = ordered.find((item) => !whole.includes(item) && !lines.includes(item));
    if (lines.length < LINES && newestRead && !whole.length) lines.push(newestRead);
    const inView = ordered.filter((item) => whole.includes(item) || lines.includes(item));
    $('#announcements').hidden = ordered.length === 0;
    const options = { onAck: ack, meId: me.id, names: room.nameOf };
    const nodes = inView.map((item) => {
      const node = announcementItem(item, options);
      if (item.offset === feed.fresh && !read.has(item.id)) node.classList.add('fresh');
      if (whole.includes(item)) {
        node.classList.toggle('open', expanded.has(item.id));
        if (!needsAck(item)) node.classList.add('unread');
        return node; // its buttons come once it is laid out, below
      }
      const open = expanded.has(item.id);
      node.classList.add('compact');
      node.classList.toggle('open', open);
      const acked = node.querySelector('.acked');
      if (acked && !open) {
        // On one line, "You acknowledged this" is a tick after the tag (and keeps the focus "Got it" had).
        acked.remove();
        const tags = node.querySelectorAll('.tag');
        tags[tags.length - 1].after(
          h('span', { class: 'acked-mark', tabindex: '-1', 'data-focus': `ack:${item.id}` }, h('span', { 'aria-hidden': 'true', text: '✓' }), h('span', { class: 'visually-hidden', text: t('announcements.acked') })),
        );
      }
      node.append(
        h(
          'button',
          {
            type: 'button',
            class: 'link more',
            'aria-expanded': open ? 'true' : 'false',
            'data-focus': `more:${item.id}`,
            onclick: () => {
              if (open) expanded.delete(item.id);
              else expanded.add(item.id);
              read.add(item.id);
              render();
            },
          },
          open ? t('announcements.less') : t('announcements.all'),
        ),
      );
      return node;
    });
    replaceKeepingFocus($('#announcement-latest'), nodes);
    // A whole one longer than four lines is cut, with "Show the rest". "Show less" makes an unread one
    // a line (it is read), and cuts an opened urgent one short again.
    for (const [index, node] of nodes.entries()) {
      const item = inView[index];
      if (!whole.includes(item)) continue;
      const text = node.querySelector('.announcement-text');
      const open = expanded.has(item.id);
      const button = (words, focus, onclick) => h('button', { type: 'button', class: 'link more', 'data-focus': `${focus}:${item.id}`, onclick }, words);
      if (!open && text.scrollHeight > text.clientHeight + 1) {
        text.after(
          button(t('announcements.rest'), 'rest', () => {
            expanded.add(item.id);
            render();
          }),
        );
      }
      const less = () => {
        expanded.delete(item.id);
        if (!needsAck(item)) read.add(item.id);
        render();
        $('#announcements').scrollTop = 0; // what is left starts at the top
      };
      if (!needsAck(item)) node.append(button(t('announcements.less'), 'less', less));
      else if (open) text.after(button(t('announcements.less'), 'less', less));
    }
    const earlier = ordered.filter((item) => !inView.includes(item));
    $('#announcement-more').hidden = earlier.length === 0;
    $('#announcement-more summary').textContent = t('announcements.earlierCount', { count: earlier.length });
    setChildren($('#announcement-earlier'), ...earlier.map((item) => announcementItem(item, options)));
    // The unread one becomes read after a while in view, if the page was touched around then.
    clearTimeout(readTimer);
    if (unread) {
      if (!shownSince.has(unread.id) || document.visibilityState !== 'visible') shownSince.set(unread.id, Date.now());
      const since = shownSince.get(unread.id);
      readTimer = setTimeout(
        () => {
          const inHand = touchedAt > 0 && touchedAt >= since - TOUCHED_BEFORE_MS;
          if (document.visibilityState === 'visible' && inHand) markRead(unread.id);
          else {
            shownSince.delete(unread.id); // not seen yet: the wait starts again
            render();
          }
        },
        Math.max(0, since + READ_AFTER_MS - Date.now()),
      );
    }
  };
  const feed = new AnnouncementFeed(client, { speak: true, onChange: render });
  onLanguageChange(render);

  // An acknowledgement shows as made at once, and a refused one shows its button again.
  client.on('outbox', (entries) => {
    if (entries.some((e) => e.channel === 'announcements') || $('#announcement-latest button[disabled]')) render();
  });
  client.on('failed', ({ entry }) => {
    if (entry.channel === 'announcements') render();
  });
  return {
    start: () => feed.start(),
    restore: (items) => feed.restore(items),
    /** The announcements to keep on the phone, once the server's have come; else null. */
    live: () => (feed.live ? feed.items() : null),
    /** Marks an announcement read (tests, and the curious). */
    markRead,
  };
}
