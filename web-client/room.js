// The participant's room: /room?event=ID, phone first. Sections as tabs: the team chat and the lobby,
// the team's task board (and every other team's, read only), its brief with the revision history,
// the teams with who is in them and which skills they miss, and the schedule. Announcements stay on
// top (urgent ones are acknowledged), help is one tap away, the connection status is always told, and
// what is written or changed offline is kept and sent once the phone is back. Opened with no network,
// the room shows what this phone last saw (room/saved.js); the service worker (sw.js) keeps the files.
//
// This file puts the room together; each part is a module of room/: context.js (what they all read),
// chat.js, board.js, brief.js, teams.js, made.js, schedule.js, presenting.js, help.js, announcements.js,
// status.js and saved.js.

import { StateChannel } from './state.js';
import { $, currentSession, keepForOffline } from './ui.js';
import { tabList } from './views.js';
import { localText, onLanguageChange, setEvent, showText, startPage, t } from './i18n.js';

const localEventName = (event) => localText(event.name, event.name_cy);
import { RoomContext } from './room/context.js';
import { followStatus, offerSignOut, showNotJoined } from './room/status.js';
import { chatSection } from './room/chat.js';
import { roomAnnouncements } from './room/announcements.js';
import { helpSheet } from './room/help.js';
import { boardSection } from './room/board.js';
import { briefSection } from './room/brief.js';
import { teamsSection } from './room/teams.js';
import { scheduleSection } from './room/schedule.js';
import { madeSection } from './room/made.js';
import { presentingBar } from './room/presenting.js';
import { SavedRoom } from './room/saved.js';

const SECTIONS = ['chat', 'board', 'brief', 'teams', 'made', 'schedule'];
const SECTION_KEY = 'makeroom:room-section'; // the open section, remembered for the tab

/** How long the room waits for the saved room before it connects anyway. */
const SAVED_WAIT_MS = 400;

async function start(session) {
  const room = new RoomContext(session);
  const { client, me } = room;
  // The event's name in the reader's language (from the roster once it is here), with its `lang`.
  let knownName = session.event.name;
  const showName = () => {
    const name = room.roster && room.roster.event ? localEventName(room.roster.event) : { text: knownName, lang: undefined };
    showText($('#event-name'), name);
    document.title = t('page.title', { name: name.text });
  };
  showName();
  followStatus(room);
  client.on('ready', (hello) => {
    if (hello.event && hello.event.name) knownName = hello.event.name;
    showName();
  });
  $('#main').hidden = false;
  $('#section-tabs').hidden = false;
  $('#composer').hidden = false;
  $('#help-toggle').hidden = false;

  const chat = chatSection(room, { onTeamChanged: () => teamChanged() });
  const announcements = roomAnnouncements(room);
  const help = helpSheet(room);
  const board = boardSection(room);
  const brief = briefSection(room);
  const teams = teamsSection(room);
  const schedule = scheduleSection(room);
  const made = madeSection(room);
  const presenting = presentingBar(room);

  const renderers = { board: board.render, brief: brief.render, teams: teams.render, made: made.render, schedule: schedule.render };
  const selectSection = tabList($('#section-tabs'), {
    onSelect: (name) => {
      room.section = name;
      document.body.classList.toggle('scrolled', $(`#view-${name}`).scrollTop > 48);
      chat.sectionShown(name);
      if (renderers[name]) renderers[name]();
      try {
        sessionStorage.setItem(SECTION_KEY, name);
      } catch {
        // remembered for this page only
      }
    },
  });

  // This person joined, switched or left a team: every section shows the new team's.
  const teamChanged = () => {
    brief.reset();
    board.reset();
    board.render();
    brief.render();
    teams.render();
    made.render();
    help.render();
    presenting.render();
  };

  // The state channels, each drawn where it shows: live, or as saved until the live state comes.
  const show = {
    roster: (state, detail = {}) => {
      if (!state) return;
      room.roster = state;
      if (state.event && state.event.name) {
        setEvent(state.event);
        showName();
      }
      // A saved roster may be older than the session: only the live one moves this person.
      const mine = state.participants[me.id];
      if (!detail.saved && mine && !mine.removed && (mine.team || null) !== room.teamId) chat.teamMoved(mine.team);
      chat.refreshLabels();
      teams.render();
      board.renderHead();
      if (room.section === 'board') board.show();
      if (room.section === 'brief') brief.render();
      help.render();
    },
    briefs: (state, detail) => {
      if (!state) return;
      room.briefs = state;
      brief.briefsChanged(detail);
      brief.render();
      teams.render();
    },
    schedule: (state) => {
      room.schedule = state;
      schedule.render();
    },
    presentations: (state) => {
      room.presentations = state;
      schedule.render();
      presenting.render();
    },
    help: (state) => {
      room.help = state;
      help.render();
    },
    outputs: (state) => {
      room.outputs = state;
      made.render();
    },
  };
  const channels = {};
  for (const [channel, draw] of Object.entries(show)) channels[channel] = new StateChannel(client, channel, { onChange: draw }).start();

  // What this phone last saw, shown until the live state comes, and kept as the live state changes.
  // Only live states are kept (a channel's `state` is null until its snapshot), never the saved ones again.
  const saved = new SavedRoom(room.eventId, me.id, () => ({
    roster: channels.roster.state,
    briefs: channels.briefs.state,
    schedule: channels.schedule.state,
    help: channels.help.state,
    outputs: channels.outputs.state,
    announcements: announcements.live(),
    boards: board.live(),
    chats: chat.live(),
  }));
  room.saved = saved;
  for (const event of ['pub', 'resync', 'sent']) client.on(event, () => saved.changed());
  chat.onLoaded(() => saved.changed());
  announcements.start();
  chat.start();
  const last = await Promise.race([saved.load(), new Promise((resolve) => setTimeout(resolve, SAVED_WAIT_MS))]);
  if (last) {
    room.savedAt = last.savedAt;
    for (const channel of ['roster', 'briefs', 'schedule', 'help', 'outputs']) if (last[channel] && !room[channel]) show[channel](last[channel], { saved: true });
    if (last.announcements) announcements.restore(last.announcements);
    if (last.boards) board.restore(last.boards);
    if (last.chats) chat.restore(last.chats);
    room.statusChanged();
  }

  let firstSection = 'chat';
  try {
    firstSection = sessionStorage.getItem(SECTION_KEY) || 'chat';
  } catch {
    // first visit
  }
  selectSection(SECTIONS.includes(firstSection) ? firstSection : 'chat');
  help.render();
  chat.loadTeamNames();
  client.connect();
  // While a section is scrolled down, the top bar shrinks (room.css, body.scrolled); back at the top it
  // grows again. The chats are left alone: reading back is not a reason to move the page about.
  $('#main').addEventListener(
    'scroll',
    (event) => {
      const view = event.target;
      if (!view.classList || !view.classList.contains('view') || view.id === 'view-chat') return;
      if (view.scrollTop > 48) document.body.classList.add('scrolled');
      else if (view.scrollTop < 8) document.body.classList.remove('scrolled');
    },
    true,
  );
  // Tabs too wide for the screen (large text) scroll sideways; a shadow says which way there are more.
  const tabs = $('#section-tabs');
  const edges = () => {
    tabs.classList.toggle('more-left', tabs.scrollLeft > 1);
    tabs.classList.toggle('more-right', tabs.scrollLeft + tabs.clientWidth < tabs.scrollWidth - 1);
  };
  tabs.addEventListener('scroll', edges, { passive: true });
  window.addEventListener('resize', edges);
  edges();
  onLanguageChange(() => {
    showName();
    renderers.schedule();
  });
  keepForOffline();
  // For tests and the curious: the page's client, and what it keeps for offline.
  window.makeroom = client;
  window.makeroomSaved = saved;
  offerSignOut(room);
}

startPage();
const session = currentSession('participant');
if (session) start(session);
else showNotJoined();
