// The participant's room: /room?event=ID, phone first. Sections as tabs: the team chat and the lobby,
// the team's task board (and every other team's, read only), its brief with the revision history,
// the teams with who is in them and which skills they miss, and the schedule. Announcements stay on
// top (urgent ones are acknowledged), help is one tap away, the connection status is always told, and
// what is written or changed offline is kept and sent once the phone is back.
//
// This file puts the room together; each part is a module of room/: context.js (what they all read),
// chat.js, board.js, brief.js, teams.js, schedule.js, help.js, announcements.js and status.js.

import { StateChannel } from './state.js';
import { $, currentSession } from './ui.js';
import { tabList } from './views.js';
import { RoomContext } from './room/context.js';
import { followStatus, showNotJoined } from './room/status.js';
import { chatSection } from './room/chat.js';
import { roomAnnouncements } from './room/announcements.js';
import { helpSheet } from './room/help.js';
import { boardSection } from './room/board.js';
import { briefSection } from './room/brief.js';
import { teamsSection } from './room/teams.js';
import { scheduleSection } from './room/schedule.js';

const SECTIONS = ['chat', 'board', 'brief', 'teams', 'schedule'];
const SECTION_KEY = 'makeroom:room-section'; // the open section, remembered for the tab

function start(session) {
  const room = new RoomContext(session);
  const { client, me } = room;
  $('#event-name').textContent = session.event.name;
  document.title = `${session.event.name} · Makeroom`;
  followStatus(room);
  client.on('ready', (hello) => {
    if (hello.event && hello.event.name) $('#event-name').textContent = hello.event.name;
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

  const renderers = { board: board.render, brief: brief.render, teams: teams.render, schedule: schedule.render };
  const selectSection = tabList($('#section-tabs'), {
    onSelect: (name) => {
      room.section = name;
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
    help.render();
  };

  // The state channels, each drawn where it shows.
  const follow = (channel, onChange) => new StateChannel(client, channel, { onChange }).start();
  follow('roster', (state) => {
    if (!state) return;
    room.roster = state;
    const mine = state.participants[me.id];
    if (mine && !mine.removed && (mine.team || null) !== room.teamId) chat.teamMoved(mine.team);
    chat.refreshLabels();
    teams.render();
    board.renderHead();
    if (room.section === 'board') board.show();
    if (room.section === 'brief') brief.render();
    help.render();
  });
  follow('briefs', (state, detail) => {
    if (!state) return;
    room.briefs = state;
    brief.briefsChanged(detail);
    brief.render();
    teams.render();
  });
  follow('schedule', (state) => {
    room.schedule = state;
    schedule.render();
  });
  follow('presentations', (state) => {
    room.presentations = state;
    schedule.render();
  });
  follow('help', (state) => {
    room.help = state;
    help.render();
  });

  announcements.start();
  chat.start();
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
  // For tests and the curious: the page's client.
  window.makeroom = client;
}

const session = currentSession('participant');
if (session) start(session);
else showNotJoined();
