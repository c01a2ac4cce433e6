// room/status.js: what the room says about its connection: the status line (online, reconnecting,
// offline with what waits to be sent, or showing what the phone saw last), and the ways the room
// ends: signing out of this phone (asked first, and said plainly when messages are still waiting),
// signed out by the server (join again), removed from the event, or not joined on this device.

import { Status } from '../makeroom.js';
import { $, forgetSession, formatTime, h, setChildren, showStatus } from '../ui.js';
import { eventName, onLanguageChange, t } from '../i18n.js';

let terminal = null; // what ended the room, drawn again in a new language

function showTerminal(draw) {
  terminal = draw;
  const box = $('#terminal');
  setChildren(box, ...draw());
  box.hidden = false;
  $('#composer').hidden = true;
}
onLanguageChange(() => {
  if (terminal) setChildren($('#terminal'), ...terminal());
});

/** The event's name as the room knows it now, in the reader's language. */
const nameOf = (session) => eventName(undefined, session.event.name) || session.event.name;

/** Keeps the status line, and ends the room when the sign-in expires or the person is removed. */
export function followStatus(room) {
  const { client, session } = room;
  // Opened with no network, the room shows what this phone saw last (room/saved.js), and says so.
  const line = showStatus($('#status'), client, {
    waiting: () => client.outbox.length,
    note: () => (room.savedAt ? t('status.saved', { time: formatTime(room.savedAt) }) : ''),
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
      showTerminal(() => [
        h('h2', { text: t('end.joinAgainTitle') }),
        h('p', { text: t('end.expired') }),
        h('a', { class: 'button', href: again }, t('end.joinAgain')),
      ]);
    } else if (status === Status.REMOVED) {
      forgetSession('participant', room.eventId);
      showTerminal(() => [
        h('h2', { text: t('end.removedTitle') }),
        h('p', { text: t('end.removed', { name: nameOf(session) }) }),
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
  const signedInAs = () => ($('#signed-in-as').textContent = t('phone.signedInAs', { name: room.me.name, event: nameOf(session) }));
  signedInAs();
  onLanguageChange(signedInAs);
  $('#sign-out').addEventListener('click', async () => {
    await client.outboxLoaded;
    const waiting = client.outbox.length;
    const question = waiting ? t('phone.unsent', { count: waiting }) : t('phone.confirmSignOut', { event: nameOf(session) });
    if (!window.confirm(question)) return;
    client.close();
    await client.clearOutbox();
    if (room.saved) await room.saved.forget();
    forgetSession('participant', room.eventId);
    const again = session.code ? `/join?code=${encodeURIComponent(session.code)}` : '/';
    showTerminal(() => [
      h('h2', { text: t('end.signedOutTitle') }),
      h('p', { text: t('end.signedOut', { name: nameOf(session) }) }),
      h('a', { class: 'button', href: again }, t('end.joinAgain')),
    ]);
    for (const part of ['#main', '#section-tabs', '#announcements', '#presenting', '#help-toggle', '#help-sheet', '#status']) $(part).hidden = true;
    $('#who').textContent = '';
    $('#terminal').focus();
  });
}

/** This device has not joined the event. */
export function showNotJoined() {
  showTerminal(() => [
    h('h2', { text: t('end.notJoinedTitle') }),
    h('p', { text: t('end.notJoined') }),
    h('a', { class: 'button', href: '/' }, t('end.enterCode')),
  ]);
}
