// The organiser's console: /organiser#refresh=TOKEN (the link the server prints), then
// /organiser?event=ID. A laptop page that runs the weekend: announcements (pins, acknowledgements),
// the show and tell (running order, slot, the live timer), the help queue, the schedule, the briefs
// (edits that name their revision, conflicts shown plainly), teams and people, what the teams made,
// how people join (code, link, QR code), the event's name and dates, display links and the export.
//
// This file signs in and puts the console together; each section is a module of organiser/:
// context.js (what they all read), announcements.js, show.js, help.js, schedule.js, briefs.js,
// people.js, outputs.js, joining.js, event.js, displays.js and export.js.

import { Status } from './makeroom.js';
import { StateChannel } from './state.js';
import { $, forgetSession, keepForOffline, showStatus, signInFromLink } from './ui.js';
import { OrganiserContext, ROLE } from './organiser/context.js';
import { announcementsSection } from './organiser/announcements.js';
import { showSection } from './organiser/show.js';
import { helpQueue } from './organiser/help.js';
import { scheduleSection } from './organiser/schedule.js';
import { briefsSection } from './organiser/briefs.js';
import { peopleSection } from './organiser/people.js';
import { outputsSection } from './organiser/outputs.js';
import { joiningSection } from './organiser/joining.js';
import { displaysSection } from './organiser/displays.js';
import { exportSection } from './organiser/export.js';
import { eventSection } from './organiser/event.js';
import { localText, onLanguageChange, setEvent, showText, startPage, t } from './i18n.js';

const SECTIONS = ['#announce', '#show', '#help', '#connected', '#schedule', '#briefs', '#roster', '#outputs', '#joining', '#event', '#displays', '#export'];

let failed = null; // the text of #message as a function, said again in a new language
function fail(say) {
  failed = typeof say === 'function' ? say : null;
  $('#message').textContent = failed ? failed() : say;
}
onLanguageChange(() => {
  if (failed) $('#message').textContent = failed();
});

const signIn = () =>
  signInFromLink(ROLE, {
    say: (key) => fail(() => t(key)),
    texts: { none: 'org.noLink', expired: 'org.linkExpired', removed: 'org.linkRemoved', unreachable: 'display.unreachable' },
    refuse: (answer) => (answer.participant.role !== 'organiser' ? 'org.notOrganiserLink' : null),
  });

function start(signedIn) {
  const organiser = new OrganiserContext(signedIn);
  const { client, session } = organiser;
  // The event's name in the reader's language, from the roster once it is here.
  let details = { name: session.event.name };
  const showName = () => {
    const name = localText(details.name, details.name_cy);
    showText($('#event-name'), name);
    document.title = t('org.pageTitle', { name: name.text });
  };
  showName();
  for (const id of SECTIONS) $(id).hidden = false;
  $('#console-nav').hidden = false;
  showStatus($('#status'), client, { waiting: () => client.outbox.length });
  client.on('ready', (hello) => {
    if (!organiser.roster) details = { name: hello.event.name };
    showName();
  });

  joiningSection(organiser);
  const announcements = announcementsSection(organiser);
  const show = showSection(organiser);
  const help = helpQueue(organiser);
  const schedule = scheduleSection(organiser);
  const briefs = briefsSection(organiser);
  const people = peopleSection(organiser);
  const outputs = outputsSection(organiser);
  const event = eventSection(organiser);
  exportSection(organiser);
  displaysSection(organiser);

  // The state channels, each drawn where it shows.
  const follow = (channel, onChange) => new StateChannel(client, channel, { onChange }).start();
  follow('roster', (state) => {
    if (!state) return;
    organiser.roster = state;
    if (state.event && state.event.name) {
      setEvent(state.event);
      details = state.event;
      showName();
    }
    people.render();
    event.render();
    show.render();
    help.render();
    outputs.render();
    briefs.render();
    announcements.render();
  });
  follow('briefs', (state) => {
    if (!state) return;
    organiser.briefs = state;
    briefs.briefsChanged();
    briefs.render();
  });
  follow('schedule', (state) => {
    organiser.schedule = state;
    schedule.render();
  });
  follow('presentations', (state) => {
    organiser.presentations = state;
    show.render();
  });
  follow('help', (state, detail) => {
    organiser.help = state;
    help.changed(detail);
  });
  follow('outputs', (state) => {
    organiser.outputs = state;
    outputs.render();
  });

  client.on('status', ({ status }) => {
    if (status !== Status.SIGNED_OUT && status !== Status.REMOVED) return;
    forgetSession(ROLE, organiser.eventId);
    fail(() => (status === Status.REMOVED ? t('org.removed') : t('org.signInExpired')));
  });

  announcements.start();
  client.subscribe('lobby', { presence: true }).catch(() => {});
  announcements.render();
  client.connect();
  onLanguageChange(() => {
    showName();
    event.render();
  });
  window.makeroom = client;
}

startPage();
keepForOffline();
signIn().then((signedIn) => {
  if (signedIn) start(signedIn);
});
