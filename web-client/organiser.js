// The organiser's page: /organiser#refresh=TOKEN (the link the server prints), then /organiser?event=ID.
// Posts announcements, shows how people join, who is connected, the teams and people from the
// roster, and makes display links.

import { Makeroom, Status, api, tokenSource } from './makeroom.js';
import {
  $,
  clearLinkToken,
  copyText,
  currentSession,
  forgetSession,
  formatTime,
  h,
  announcementsFromSnapshot,
  foldAnnouncements,
  loadSession,
  subscribeAnnouncements,
  saveSession,
  setChildren,
  showEventInAddress,
  showStatus,
  takeLinkToken,
} from './ui.js';

const ROLE = 'organiser';
const message = $('#message');

function fail(text) {
  message.textContent = text;
}

/** Trades the link's refresh token (if any) and returns the session, or null with a message shown. */
async function signIn() {
  const link = takeLinkToken(ROLE);
  if (!link) {
    const session = currentSession(ROLE);
    if (!session) fail('Open the organiser link that the server printed when it started (it ends in #refresh=…).');
    return session ? { session, first: null } : null;
  }
  let answer;
  try {
    answer = await api('/api/token', { method: 'POST', body: { refresh_token: link.refresh } });
  } catch (err) {
    if (err.status === 401) {
      clearLinkToken(ROLE);
      fail('This organiser link has expired or is not valid. Restart the server or ask for a new link.');
    } else if (err.status === 403) {
      clearLinkToken(ROLE);
      fail('This link belongs to someone who is no longer part of the event.');
    } else {
      fail('Could not reach Makeroom. Check the connection, then reload the page.');
    }
    return null;
  }
  clearLinkToken(ROLE);
  if (answer.participant.role !== 'organiser') {
    fail(`This is a ${answer.participant.role}'s link, not an organiser's.`);
    return null;
  }
  const before = loadSession(ROLE, answer.event.id);
  const session = {
    refresh_token: link.refresh,
    participant: answer.participant,
    event: answer.event,
    code: link.code || (before && before.code) || null,
  };
  saveSession(ROLE, session);
  showEventInAddress(answer.event.id);
  return { session, first: answer };
}

/**
 * Folds the roster log (records in offset order) into the event, its teams and people. Records are
 * tagged `kind` (PROTOCOL.md) or `type` (newer servers); kinds this page does not know are skipped.
 */
function foldRoster(records, base) {
  const teams = new Map();
  const people = new Map();
  let event = base ? base.event : null;
  if (base) {
    for (const team of base.teams.values()) teams.set(team.id, { ...team });
    for (const person of base.people.values()) people.set(person.id, { ...person });
  }
  for (const offset of [...records.keys()].sort((a, b) => a - b)) {
    const record = records.get(offset) || {};
    const person = typeof record.participant === 'string' ? people.get(record.participant) : null;
    const team = typeof record.team === 'string' ? teams.get(record.team) : null;
    switch (record.kind || record.type) {
      case 'event_updated':
        event = record.details || event;
        break;
      case 'team_created':
        teams.set(record.team.id, { ...record.team, archived: false });
        break;
      case 'team_renamed':
        if (team) team.name = record.name;
        break;
      case 'team_needs':
        if (team) team.needs = record.needs;
        break;
      case 'team_archived':
        if (team) team.archived = true;
        for (const member of people.values()) if (member.team === record.team) member.team = null;
        break;
      case 'joined':
        people.set(record.participant.id, { ...record.participant });
        break;
      case 'moved':
        if (person) person.team = record.team || null;
        break;
      case 'skills_changed':
        if (person) person.skills = record.skills;
        break;
      case 'removed':
        if (person) {
          person.removed = true;
          person.team = null;
        }
        break;
      default:
        break;
    }
  }
  return { event, teams, people };
}

/** A roster snapshot's state (PROTOCOL.md section 8) as the base that foldRoster starts from. */
function rosterFromSnapshot(state) {
  return {
    event: state.event || null,
    teams: new Map(Object.values(state.teams || {}).map((team) => [team.id, team])),
    people: new Map(Object.values(state.participants || {}).map((person) => [person.id, person])),
  };
}

function start({ session, first }) {
  const eventId = session.event.id;
  const me = session.participant;
  $('#event-name').textContent = session.event.name;
  document.title = `${session.event.name} · Organiser · Makeroom`;
  for (const id of ['#announce', '#joining', '#connected', '#displays', '#roster']) $(id).hidden = false;

  const source = tokenSource(session.refresh_token);
  let firstToken = first;
  const client = new Makeroom({
    getToken: async () => {
      if (firstToken) {
        const answer = firstToken;
        firstToken = null;
        return answer;
      }
      return source();
    },
    outboxKey: `makeroom:outbox:${eventId}:${me.id}`,
  });
  showStatus($('#status'), client, { waiting: () => client.outbox.length });

  // ---------------------------------------------------------------- join code
  const showCode = (code) => {
    $('#code-known').hidden = !code;
    $('#code-form').hidden = Boolean(code);
    if (!code) return;
    $('#join-code').textContent = code;
    $('#join-link').value = `${location.origin}/join?code=${code}`;
  };
  showCode(session.code);
  $('#copy-join').addEventListener('click', async (event) => {
    const ok = await copyText($('#join-link').value, $('#join-link'));
    event.target.textContent = ok ? 'Copied' : 'Copy';
  });
  $('#code-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    fail('');
    const code = $('#code-input').value.trim().toUpperCase();
    try {
      const info = await api(`/api/join/${encodeURIComponent(code)}`);
      if (info.event.id !== eventId) {
        fail(`The code ${code} is for another event ("${info.event.name}").`);
        return;
      }
      session.code = code;
      saveSession(ROLE, session);
      showCode(code);
    } catch (err) {
      fail(err.code === 'not_found' ? `No event has the join code ${code}.` : `Could not check the code: ${err.message}.`);
    }
  });

  // ---------------------------------------------------------------- announcements
  const announcements = new Map();
  let announcementBase = [];
  const body = (entry) => (entry.op === 'command' ? entry.command : entry.data) || {};
  const renderAnnouncements = () => {
    const items = foldAnnouncements([...announcements.values()], announcementBase).slice(0, 30);
    const pending = client.outbox.filter((entry) => entry.channel === 'announcements');
    const rows = [
      ...pending.map((entry) =>
        h('li', {}, body(entry).priority === 'urgent' ? h('strong', { text: 'Urgent: ' }) : null, body(entry).text, h('span', { class: 'skills', text: 'Sending…' })),
      ),
      ...items.map((item) =>
        h(
          'li',
          {},
          item.priority === 'urgent' ? h('strong', { text: 'Urgent: ' }) : null,
          item.pinned ? h('strong', { text: 'Pinned: ' }) : null,
          item.text,
          h('span', { class: 'skills' }, `${item.from ? item.from.name : 'Organisers'} · `, h('time', { datetime: new Date(item.ts).toISOString(), text: formatTime(item.ts) })),
        ),
      ),
    ];
    setChildren($('#announcement-list'), ...rows);
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
    postAnnouncement(text, priority);
    $('#announcement-text').value = '';
    // Back to normal, so that the next one is not urgent by accident.
    document.querySelector('input[name="priority"][value="normal"]').checked = true;
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
  const postAnnouncement = (text, priority, key) => {
    if (via === 'command') client.command('announcements', { type: 'announcement.post', text, priority }, { key });
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
    postAnnouncement(body(entry).text, body(entry).priority, entry.key);
    return true;
  };

  // ---------------------------------------------------------------- presence and roster
  let present = [];
  let rosterBase = null; // the snapshot's state, when the server sends one
  const records = new Map(); // offset -> roster event after the base
  const renderConnected = () => {
    $('#connected-title').textContent = `Connected now (${present.length})`;
    setChildren($('#connected-list'), 
      ...present.map((member) =>
        h(
          'li',
          {},
          member.id === me.id ? `${member.name} (you)` : member.name,
          member.role !== 'participant' ? h('span', { class: 'skills', text: member.role === 'display' ? 'Display' : 'Organiser' }) : null,
        ),
      ),
    );
  };
  const renderRoster = () => {
    const { event, teams, people } = foldRoster(records, rosterBase);
    if (event && event.name) $('#event-name').textContent = event.name;
    const here = new Set(present.map((member) => member.id));
    const active = [...people.values()].filter((person) => !person.removed);
    const personItem = (person) =>
      h(
        'li',
        {},
        person.name,
        here.has(person.id) ? h('span', { class: 'here-mark' }, ' ● connected') : null,
        person.skills && person.skills.length ? h('span', { class: 'skills', text: `Skills: ${person.skills.join(', ')}` }) : null,
      );
    const group = (title, members) =>
      h(
        'div',
        { class: 'team' },
        h('h3', { text: `${title} (${members.length})` }),
        members.length ? h('ul', { class: 'people' }, members.map(personItem)) : h('p', { class: 'hint', text: 'Nobody yet.' }),
      );
    const byName = (a, b) => a.name.localeCompare(b.name);
    const participants = active.filter((person) => person.role === 'participant');
    const blocks = [...teams.values()]
      .filter((team) => !team.archived)
      .sort(byName)
      .map((team) => group(team.name, participants.filter((person) => person.team === team.id).sort(byName)));
    blocks.push(group('Not in a team', participants.filter((person) => !person.team || !teams.has(person.team)).sort(byName)));
    blocks.push(group('Organisers and displays', active.filter((person) => person.role !== 'participant').sort(byName)));
    $('#roster-title').textContent = `Teams and people (${participants.length} participants)`;
    setChildren($('#roster-body'), ...blocks);
  };

  let rosterWanted = null;
  const loadRoster = async () => {
    const want = rosterWanted;
    if (!want || want.loading) return;
    want.loading = true;
    try {
      // The roster is kept whole: page back from the subscription's offset to the first record.
      let before = want.offset + 1;
      for (let pages = 0; pages < 100; pages++) {
        const result = await client.history('roster', { before, limit: 500 });
        if (rosterWanted !== want) return;
        for (const publication of result.publications) records.set(publication.offset, publication.data);
        const oldest = result.publications.length ? result.publications[0].offset : null;
        if (oldest === null || oldest <= Math.max(result.first, 1)) break;
        before = oldest;
      }
    } catch {
      want.loading = false;
      return; // retried when back online
    }
    rosterWanted = null;
    renderRoster();
  };

  let announcementsWanted = null;
  const loadAnnouncements = async () => {
    const want = announcementsWanted;
    if (!want || want.loading) return;
    want.loading = true;
    try {
      const result = await client.history('announcements', { before: want.offset + 1, limit: 30 });
      if (announcementsWanted !== want) return;
      announcementsWanted = null;
      for (const publication of result.publications) announcements.set(publication.offset, publication);
    } catch {
      want.loading = false;
      return; // retried when back online
    }
    renderAnnouncements();
  };

  // ---------------------------------------------------------------- displays
  $('#display-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    fail('');
    const button = event.target.querySelector('button');
    button.disabled = true;
    try {
      const { token } = await source();
      const name = $('#display-name').value.trim() || 'Display';
      const created = await api(`/api/events/${encodeURIComponent(eventId)}/displays`, { method: 'POST', body: { name }, token });
      const link = session.code ? `${created.link}&code=${session.code}` : created.link;
      $('#display-link').value = link;
      $('#open-display').href = link;
      $('#display-result').hidden = false;
      $('#display-link').focus();
      $('#display-link').select();
    } catch (err) {
      fail(`Could not create a display: ${err.message}.`);
    } finally {
      button.disabled = false;
    }
  });
  $('#copy-display').addEventListener('click', async (event) => {
    const ok = await copyText($('#display-link').value, $('#display-link'));
    event.target.textContent = ok ? 'Copied' : 'Copy';
  });

  // ---------------------------------------------------------------- client events
  client.on('ready', (hello) => {
    $('#event-name').textContent = hello.event.name;
    if (hello.event.join_code && hello.event.join_code !== session.code) {
      // Servers that tell organisers the join code save them typing it.
      session.code = hello.event.join_code;
      saveSession(ROLE, session);
      showCode(session.code);
    }
  });
  client.on('resync', (event) => {
    if (event.channel === 'roster') {
      if (event.snapshot) {
        // The state as of event.offset; the events after it arrive as pubs.
        rosterBase = rosterFromSnapshot(event.snapshot);
        records.clear();
        rosterWanted = null;
        renderRoster();
        return;
      }
      if (event.reason !== 'initial' && event.reason !== 'gap') {
        records.clear();
        rosterBase = null;
      }
      rosterWanted = { offset: event.offset === null ? Number.MAX_SAFE_INTEGER - 1 : event.offset };
      loadRoster();
    } else if (event.channel === 'announcements') {
      if (event.snapshot) {
        announcementBase = announcementsFromSnapshot(event.snapshot);
        announcements.clear();
        announcementsWanted = null;
        renderAnnouncements();
        return;
      }
      if (event.reason !== 'initial' && event.reason !== 'gap') {
        announcements.clear();
        announcementBase = [];
      }
      announcementsWanted = { offset: event.offset === null ? Number.MAX_SAFE_INTEGER - 1 : event.offset };
      loadAnnouncements();
    }
  });
  client.on('pub', (publication) => {
    if (publication.channel === 'roster') {
      records.set(publication.offset, publication.data);
      if (!rosterWanted) renderRoster();
    } else if (publication.channel === 'announcements') {
      announcements.set(publication.offset, publication);
      renderAnnouncements();
    }
  });
  client.on('presence', ({ channel, members }) => {
    if (channel !== 'lobby') return;
    present = members;
    renderConnected();
    if (!rosterWanted) renderRoster();
  });
  client.on('outbox', renderAnnouncements);
  client.on('failed', ({ entry, error }) => {
    if (entry.channel !== 'announcements' || switchVia(entry, error)) return;
    fail(`The announcement "${String(body(entry).text).slice(0, 40)}" was not posted: ${error.message}.`);
  });
  client.on('status', ({ status }) => {
    if (status === Status.ONLINE) {
      loadRoster();
      loadAnnouncements();
    } else if (status === Status.SIGNED_OUT || status === Status.REMOVED) {
      forgetSession(ROLE, eventId);
      fail(
        status === Status.REMOVED
          ? 'You are no longer an organiser of this event.'
          : 'This organiser sign-in has expired. Open a fresh organiser link (the server prints one when it starts).',
      );
    }
  });

  subscribeAnnouncements(client);
  client.subscribe('lobby', { presence: true }).catch(() => {});
  client.subscribe('roster', { snapshot: true }).catch(() => {});
  renderAnnouncements();
  client.connect();
  window.makeroom = client;
}

signIn().then((signedIn) => {
  if (signedIn) start(signedIn);
});
