// room/status.js: what the room says about its connection: the status line (online, reconnecting,
// offline with what waits to be sent), and the screens that end the room: signed out (join again),
// removed from the event, or not joined on this device at all.

import { Status } from '../makeroom.js';
import { $, forgetSession, formatTime, h, setChildren, showStatus } from '../ui.js';

function showTerminal(html) {
  const box = $('#terminal');
  setChildren(box, ...html);
  box.hidden = false;
  $('#composer').hidden = true;
}

/** Keeps the status line, and ends the room when the sign-in expires or the person is removed. */
export function followStatus(room) {
  const { client, session } = room;
  // Opened with no network, the room shows what this phone saw last (room/saved.js), and says so.
  const line = showStatus($('#status'), client, {
    waiting: () => client.outbox.length,
    note: () => (room.savedAt ? `Showing what this phone last saw, at ${formatTime(room.savedAt)}.` : ''),
  });
  room.statusChanged = line.refresh;
  client.on('status', ({ status }) => {
    if (status === Status.ONLINE) room.savedAt = null; // live from here on
    if (status === Status.SIGNED_OUT || status === Status.REMOVED) {
      // What this phone kept of the event goes with the sign-in.
      if (room.saved) room.saved.forget();
    }
    if (status === Status.SIGNED_OUT) {
      forgetSession('participant', room.eventId);
      const again = session.code ? `/join?code=${encodeURIComponent(session.code)}` : '/';
      showTerminal([
        h('h2', { text: 'Please join again' }),
        h('p', { text: 'Your sign-in for this event has expired or is no longer valid.' }),
        h('a', { class: 'button', href: again }, 'Join again'),
      ]);
    } else if (status === Status.REMOVED) {
      forgetSession('participant', room.eventId);
      showTerminal([
        h('h2', { text: 'You have left this event' }),
        h('p', { text: `You are no longer part of ${session.event.name}. If this is a mistake, talk to an organiser.` }),
      ]);
    }
  });
}

/** This device has not joined the event. */
export function showNotJoined() {
  showTerminal([
    h('h2', { text: 'Join an event first' }),
    h('p', { text: 'This device has not joined an event yet. Ask the organisers for the join code.' }),
    h('a', { class: 'button', href: '/' }, 'Enter a join code'),
  ]);
}
