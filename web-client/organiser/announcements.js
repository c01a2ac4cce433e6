// organiser/announcements.js: the console's Announcements: post one, normal or urgent, pinned at
// once or not; the posted ones, newest first, to pin and unpin, with how many participants have
// acknowledged each urgent one. Posts go as the command `announcement.post`, or as a published
// message to servers that take them that way.

import { AnnouncementFeed } from '../announcements.js';
import { $, announce, formatTime, h } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';

const SHOWN = 30; // announcements listed

/** Sets up the Announcements section. Returns `render()` and `start()` (subscribes). */
export function announcementsSection(organiser) {
  const { client } = organiser;
  const body = (entry) => (entry.op === 'command' ? entry.command : entry.data) || {};
  const participantsCount = () => (organiser.roster ? Object.values(organiser.roster.participants).filter((p) => p.role === 'participant' && !p.removed).length : 0);
  const render = () => {
    const items = feed.items().slice(0, SHOWN);
    const pending = client.outbox.filter((entry) => entry.channel === 'announcements' && body(entry).text);
    const pinAction = (item) => {
      const pinned = item.pinned;
      const waiting = client.outbox.some((e) => e.channel === 'announcements' && e.command && e.command.announcement === item.id);
      return h(
        'button',
        {
          type: 'button',
          class: 'link',
          'data-focus': `pin:${item.id}`,
          'aria-label': `${pinned ? 'Unpin' : 'Pin'}: ${item.text.slice(0, 50)}`,
          onclick: () => waiting || organiser.send('announcements', { type: pinned ? 'announcement.unpin' : 'announcement.pin', announcement: item.id }, $('#message'), pinned ? 'unpin it' : 'pin it'),
        },
        pinned ? 'Unpin' : 'Pin',
      );
    };
    const rows = [
      ...pending.map((entry) =>
        h('li', {}, body(entry).priority === 'urgent' ? h('strong', { text: 'Urgent: ' }) : null, body(entry).text, h('span', { class: 'skills', text: 'Sending…' })),
      ),
      ...items.map((item) => {
        const acks = item.acknowledged_by.length;
        return h(
          'li',
          { class: item.priority === 'urgent' ? 'urgent-row' : null },
          item.priority === 'urgent' ? h('strong', { text: 'Urgent: ' }) : null,
          item.pinned ? h('strong', { text: 'Pinned: ' }) : null,
          item.text,
          h(
            'span',
            { class: 'skills' },
            `${item.from ? item.from.name : organiser.nameOf(item.by) || 'Organisers'} · `,
            h('time', { datetime: new Date(item.ts).toISOString(), text: formatTime(item.ts) }),
            item.priority === 'urgent' ? h('strong', { class: 'ack-count', text: ` · ✓ ${acks} of ${participantsCount()} acknowledged` }) : null,
            ' · ',
            String(item.id).startsWith('offset-') ? null : pinAction(item),
          ),
        );
      }),
    ];
    replaceKeepingFocus($('#announcement-list'), rows);
    $('#no-announcements').hidden = rows.length > 0;
  };
  $('#announce-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('#announcement-text').value.trim();
    if (!text) {
      $('#announcement-text').focus();
      return;
    }
    const priority = (document.querySelector('input[name="priority"]:checked') || {}).value || 'normal';
    postAnnouncement(text, priority, undefined, $('#announcement-pin').checked);
    $('#announcement-text').value = '';
    $('#announcement-pin').checked = false;
    // Back to normal, so that the next one is not urgent by accident.
    document.querySelector('input[name="priority"][value="normal"]').checked = true;
    announce('Announcement posted.');
  });

  // Announcements are the command `announcement.post` on the `announcements` state channel
  // (PROTOCOL.md); older servers took them as published messages {text, priority} instead. Start with
  // what worked last time and switch when the server says so.
  const VIA = 'makeroom:announce-via';
  let via = (() => {
    try {
      return localStorage.getItem(VIA) || 'command';
    } catch {
      return 'command';
    }
  })();
  const switched = new Set();
  const postAnnouncement = (text, priority, key, pinned = false) => {
    if (via === 'command') client.command('announcements', { type: 'announcement.post', text, priority, pinned }, { key });
    else client.publish('announcements', { text, priority }, { key });
  };
  const switchVia = (entry, error) => {
    const toCommand = entry.op !== 'command' && error.code === 'forbidden' && /command/.test(error.message);
    const toPublish = entry.op === 'command' && (error.code === 'unknown_op' || (error.code === 'bad_request' && /publish/.test(error.message)));
    if (!(toCommand || toPublish) || switched.has(entry.key)) return false;
    switched.add(entry.key);
    via = toCommand ? 'command' : 'publish';
    try {
      localStorage.setItem(VIA, via);
    } catch {
      // remembered for this page only
    }
    postAnnouncement(body(entry).text, body(entry).priority, entry.key, body(entry).pinned);
    return true;
  };
  const feed = new AnnouncementFeed(client, { limit: SHOWN, onChange: render });

  client.on('outbox', render);
  client.on('failed', ({ entry, error }) => {
    if (entry.channel !== 'announcements' || switchVia(entry, error)) return;
    const text = body(entry).text;
    organiser.fail(text ? `The announcement "${String(text).slice(0, 40)}" was not posted: ${error.message}.` : `That change was not made: ${error.message}.`);
  });
  return { render, start: () => feed.start() };
}
