// room/status.js: what the room says about its connection: the status line (online, reconnecting,
// offline with what waits to be sent, or showing what the phone saw last), and the ways the room
// ends: signing out of this phone (asked first, and said plainly when messages are still waiting),
// signed out by the server (join again), removed from the event, or not joined on this device.

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

/**
 * "Sign out of this phone": closes the connection (the team sees this person leave), forgets the
 * sign-in, what the phone saved of the event and the outbox. Unsent messages are lost, so it says how
 * many first. The refresh token itself stays valid on the server until it expires (there is no call
 * to revoke it); the phone just no longer has it.
 */
export function offerSignOut(room) {
  const { client, session } = room;
  $('#signed-in-as').textContent = `Signed in as ${room.me.name}. Signing out takes you out of ${session.event.name} on this phone; to come back, join again with the code.`;
  $('#sign-out').addEventListener('click', async () => {
    await client.outboxLoaded;
    const waiting = client.outbox.length;
    const question = waiting
      ? `${waiting === 1 ? '1 message or change has' : `${waiting} messages or changes have`} not been sent yet, and will be lost. Sign out of this phone anyway?`
      : `Sign out of ${session.event.name} on this phone?`;
    if (!window.confirm(question)) return;
    client.close();
    await client.clearOutbox();
    if (room.saved) await room.saved.forget();
    forgetSession('participant', room.eventId);
    const again = session.code ? `/join?code=${encodeURIComponent(session.code)}` : '/';
    showTerminal([
      h('h2', { text: 'You have signed out' }),
      h('p', { text: `This phone is no longer signed in to ${session.event.name}.` }),
      h('a', { class: 'button', href: again }, 'Join again'),
    ]);
    for (const part of ['#main', '#section-tabs', '#announcements', '#presenting', '#help-toggle', '#help-sheet', '#status']) $(part).hidden = true;
    $('#who').textContent = '';
    $('#terminal').focus();
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
