// room/announcements.js: the announcements above the room's sections. The newest is shown whole;
// urgent ones stay in view with "Got it" until this person has acknowledged them; older pinned ones
// take one line each ("Show all"); the rest fold away under "Earlier announcements".

import { AnnouncementFeed, announcementItem, newestThenPinned } from '../announcements.js';
import { $, h, setChildren } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';

/** Sets up the room's announcements; `start()` subscribes. */
export function roomAnnouncements(room) {
  const { client, me } = room;
  const expanded = new Set(); // ids of compact announcements shown whole
  const ack = (item, button) => {
    button.disabled = true;
    button.textContent = 'Sending…';
    client.command('announcements', { type: 'announcement.ack', announcement: item.id });
  };
  const render = () => {
    // The newest on top, and pinned ones stay in view; the rest fold away.
    const acking = new Set(client.outbox.filter((e) => e.channel === 'announcements' && e.command && e.command.type === 'announcement.ack').map((e) => e.command.announcement));
    const folded = feed.items().map((item) => (acking.has(item.id) ? { ...item, acknowledged_by: item.acknowledged_by.concat([me.id]) } : item));
    const ordered = newestThenPinned(folded);
    // Urgent ones this person has not acknowledged stay in view too.
    const needsAck = (item) => item.priority === 'urgent' && !item.acknowledged_by.includes(me.id);
    const inView = ordered.filter((item, index) => index === 0 || needsAck(item)).slice(0, 3);
    for (const item of ordered.slice(1)) if (inView.length < 3 && item.pinned && !inView.includes(item)) inView.push(item);
    $('#announcements').hidden = ordered.length === 0;
    const options = { onAck: ack, meId: me.id, names: room.nameOf };
    const latest = inView.map((item, index) => {
      const node = announcementItem(item, options);
      if (item.offset === feed.fresh) node.classList.add('fresh');
      // Older pinned ones take one line, so the phone keeps room for the rest; a tap shows them whole.
      if (index > 0 && !needsAck(item)) {
        const open = expanded.has(item.id);
        node.classList.add('compact');
        node.classList.toggle('open', open);
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
                render();
              },
            },
            open ? 'Show less' : 'Show all',
          ),
        );
      }
      return node;
    });
    replaceKeepingFocus($('#announcement-latest'), latest);
    const earlier = ordered.filter((item) => !inView.includes(item));
    $('#announcement-more').hidden = earlier.length === 0;
    $('#announcement-more summary').textContent = `Earlier announcements (${earlier.length})`;
    setChildren($('#announcement-earlier'), ...earlier.map((item) => announcementItem(item, options)));
  };
  const feed = new AnnouncementFeed(client, { speak: true, onChange: render });

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
  };
}
