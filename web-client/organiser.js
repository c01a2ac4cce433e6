// The organiser's console: /organiser#refresh=TOKEN (the link the server prints), then
// /organiser?event=ID. A laptop page that runs the weekend: announcements (pins, acknowledgements),
// the show and tell (running order, slot, the live timer), the help queue, the schedule, the briefs
// (edits that name their revision, conflicts shown plainly), teams and people, what the teams made,
// how people join (code, link, QR code), display links and the export.

import { Makeroom, Status, api, tokenSource } from './makeroom.js';
import { StateChannel, briefList, formatClock, isOpenRequest, nextPresenter, remainingMs, scheduleAt } from './state.js';
import { qrSvg } from './qr.js';
import {
  $,
  announce,
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
import { BriefEditor, renderMarkdown, replaceKeepingFocus } from './views.js';

const ROLE = 'organiser';
const message = $('#message');
const SECTIONS = ['#announce', '#show', '#help', '#connected', '#schedule', '#briefs', '#roster', '#outputs', '#joining', '#displays', '#export'];

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

const parseList = (text) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** A time as the value of an <input type="datetime-local"> (local time, to the minute). */
function toLocalInput(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || '');
  if (!match) return null;
  const [, y, mo, d, hh, mm] = match.map(Number);
  return new Date(y, mo - 1, d, hh, mm).getTime();
}

function start({ session, first }) {
  const eventId = session.event.id;
  const me = session.participant;
  $('#event-name').textContent = session.event.name;
  document.title = `${session.event.name} · Organiser · Makeroom`;
  for (const id of SECTIONS) $(id).hidden = false;
  $('#console-nav').hidden = false;

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

  // ---------------------------------------------------------------- state
  let roster = null;
  let briefs = null;
  let schedule = null;
  let presentations = null;
  let help = null;
  let outputs = null;
  let present = [];
  const nameOf = (id) => {
    if (id === 'system') return 'Makeroom';
    if (id === me.id) return `${me.name} (you)`;
    const person = roster && roster.participants[id];
    return person ? person.name : null;
  };
  const teamName = (id) => (roster && roster.teams[id] ? roster.teams[id].name : 'a team');
  const openTeams = () => (roster ? Object.values(roster.teams).filter((t) => !t.archived).sort((a, b) => a.name.localeCompare(b.name)) : []);

  /** Sends a command; a refusal is shown in `where` (an element with role="alert"). */
  const send = (channel, command, where, what) => {
    if (where) where.textContent = '';
    const entry = client.command(channel, command);
    entry.done.catch((err) => {
      if (where) where.textContent = `Could not ${what}: ${err.message}.`;
    });
    return entry;
  };

  // ---------------------------------------------------------------- join code and QR code
  const showCode = (code) => {
    $('#code-known').hidden = !code;
    $('#code-form').hidden = Boolean(code);
    if (!code) return;
    const link = `${location.origin}/join?code=${code}`;
    $('#join-code').textContent = code;
    $('#join-link').value = link;
    const box = $('#join-qr');
    if (box.dataset.link !== link) {
      box.dataset.link = link;
      try {
        setChildren(box, qrSvg(link, { label: `QR code for the join link ${link}` }));
      } catch {
        setChildren(box);
      }
    }
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
  const participantsCount = () => (roster ? Object.values(roster.participants).filter((p) => p.role === 'participant' && !p.removed).length : 0);
  const renderAnnouncements = () => {
    const items = foldAnnouncements([...announcements.values()], announcementBase).slice(0, 30);
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
          onclick: () => waiting || send('announcements', { type: pinned ? 'announcement.unpin' : 'announcement.pin', announcement: item.id }, message, pinned ? 'unpin it' : 'pin it'),
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
            `${item.from ? item.from.name : nameOf(item.by) || 'Organisers'} · `,
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

  // ---------------------------------------------------------------- show and tell
  const show = {
    start: $('#show-start'),
    pause: $('#show-pause'),
    resume: $('#show-resume'),
    extend: $('#show-extend'),
    next: $('#show-next-button'),
    stop: $('#show-stop'),
  };
  const showMessage = $('#show-message');
  const presentationsCommand = (command, what) => send('presentations', command, showMessage, what);
  show.start.addEventListener('click', () => presentationsCommand({ type: 'presentations.start', index: 0 }, 'start the show'));
  show.pause.addEventListener('click', () => presentationsCommand({ type: 'presentations.pause' }, 'pause'));
  show.resume.addEventListener('click', () => presentationsCommand({ type: 'presentations.resume' }, 'resume'));
  show.extend.addEventListener('click', () => presentationsCommand({ type: 'presentations.extend', ms: 60000 }, 'extend the slot'));
  show.next.addEventListener('click', () => presentationsCommand({ type: 'presentations.next' }, 'move on'));
  show.stop.addEventListener('click', () => {
    if (window.confirm('End the show and tell now?')) presentationsCommand({ type: 'presentations.stop' }, 'end the show');
  });
  let lastSaid = '';
  const tickShow = () => {
    const p = presentations;
    const current = p && p.current;
    const left = current ? remainingMs(p, client.serverNow()) : null;
    const box = $('#show-now');
    box.className = `show-box${current ? ' live' : ''}${current && left <= p.warning_ms ? ' warn' : ''}${current && left < 0 ? ' over' : ''}${current && current.paused_at ? ' paused' : ''}`;
    $('#show-who').textContent = current ? `Presenting: ${teamName(current.team)}` : p && p.finished ? 'The show is over.' : 'Nobody is presenting.';
    const time = $('#show-time');
    if (current) {
      time.textContent = left < 0 ? `${formatClock(-left)} over time` : `${formatClock(left)} left${current.paused_at ? ' · paused' : ''}`;
      time.dataset.remainingMs = String(Math.round(left));
    } else {
      time.textContent = '';
      delete time.dataset.remainingMs;
    }
    const next = p ? nextPresenter(p) : null;
    $('#show-next').textContent = next ? `${current ? 'Next' : 'First'}: ${teamName(next)}` : current ? 'Last team' : '';
    // Said once per change, not every tick.
    const said = current ? `${teamName(current.team)} is presenting${current.paused_at ? ', paused' : ''}.` : $('#show-who').textContent;
    if (said !== lastSaid) {
      lastSaid = said;
      $('#show-said').textContent = said;
    }
  };
  setInterval(tickShow, 250);
  const renderShow = () => {
    const p = presentations;
    if (!p) return;
    const current = p.current;
    show.start.textContent = current ? 'Restart from the first team' : 'Start the first team';
    show.start.disabled = p.order.length === 0;
    show.pause.hidden = !current || Boolean(current.paused_at);
    show.resume.hidden = !current || !current.paused_at;
    show.extend.disabled = !current;
    show.next.disabled = p.order.length === 0;
    show.next.textContent = current ? (current.index + 1 < p.order.length ? 'Next team' : 'Finish the show') : 'Start';
    show.stop.disabled = !current;
    tickShow();
    const setOrder = (teams) => presentationsCommand({ type: 'presentations.order', teams }, 'change the running order');
    const rows = p.order.map((team, index) => {
      const swap = (to) => {
        const teams = p.order.slice();
        [teams[index], teams[to]] = [teams[to], teams[index]];
        setOrder(teams);
      };
      const presenting = current && current.team === team;
      return h(
        'li',
        { class: presenting ? 'presenting' : null, 'data-team': team },
        h('span', { class: 'order-name' }, teamName(team), presenting ? h('strong', { text: ' · presenting now' }) : null),
        h(
          'span',
          { class: 'tool-group' },
          h('button', { type: 'button', class: 'secondary', 'data-focus': `up:${team}`, 'aria-label': `Move ${teamName(team)} earlier`, disabled: index === 0, onclick: () => swap(index - 1) }, '↑'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `down:${team}`, 'aria-label': `Move ${teamName(team)} later`, disabled: index === p.order.length - 1, onclick: () => swap(index + 1) }, '↓'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `start:${team}`, 'aria-label': `Start ${teamName(team)} now`, onclick: () => presentationsCommand({ type: 'presentations.start', index }, 'start that team') }, 'Start'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `remove:${team}`, 'aria-label': `Remove ${teamName(team)} from the running order`, disabled: presenting, onclick: () => setOrder(p.order.filter((t) => t !== team)) }, 'Remove'),
        ),
      );
    });
    replaceKeepingFocus($('#order-list'), rows.length ? rows : [h('li', { class: 'hint', text: 'No teams in the running order yet.' })]);
    const missing = openTeams().filter((t) => !p.order.includes(t.id));
    setChildren($('#order-add-team'), ...missing.map((t) => h('option', { value: t.id, text: t.name })));
    $('#order-add').hidden = missing.length === 0;
    const slot = $('#slot-minutes');
    const warning = $('#warning-minutes');
    if (document.activeElement !== slot && document.activeElement !== warning) {
      slot.value = String(p.slot_ms / 60000);
      warning.value = String(p.warning_ms / 60000);
    }
  };
  $('#order-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const team = $('#order-add-team').value;
    if (team && presentations) presentationsCommand({ type: 'presentations.order', teams: presentations.order.concat([team]) }, 'add the team');
  });
  $('#slot-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const slot = Math.round(Number($('#slot-minutes').value) * 60000);
    const warning = Math.round(Number($('#warning-minutes').value) * 60000);
    if (!(warning < slot)) {
      showMessage.textContent = 'The warning has to come before the end of the slot.';
      return;
    }
    presentationsCommand({ type: 'presentations.slot', slot_ms: slot, warning_ms: warning }, 'change the timing');
  });

  // ---------------------------------------------------------------- help queue
  const renderHelp = () => {
    if (!help) return;
    const open = help.requests.filter(isOpenRequest).sort((a, b) => a.asked_at - b.asked_at);
    const closed = help.requests.filter((r) => !isOpenRequest(r)).sort((a, b) => b.closed_at - a.closed_at);
    $('#nav-help-count').textContent = open.length ? `(${open.length})` : '';
    const row = (r) =>
      h(
        'li',
        { class: `request ${r.status}`, 'data-request': r.id },
        h('p', { class: 'topic' }, h('strong', { text: teamName(r.team) }), `: ${r.topic}`),
        h('p', { class: 'hint' }, r.location ? `${r.location} · ` : '', `asked ${formatTime(r.asked_at)} by ${nameOf(r.asked_by) || 'someone'}`),
        h(
          'p',
          { class: 'request-status' },
          r.status === 'open' ? '○ Waiting' : r.status === 'claimed' ? `● ${nameOf(r.claimed_by) || 'Someone'} is on it` : r.status === 'resolved' ? `✓ Resolved ${formatTime(r.closed_at)}` : `Cancelled ${formatTime(r.closed_at)}`,
        ),
        isOpenRequest(r)
          ? h(
              'div',
              { class: 'tool-group' },
              r.status === 'open' ? h('button', { type: 'button', 'data-focus': `claim:${r.id}`, 'aria-label': `Claim: ${r.topic}`, onclick: () => send('help', { type: 'help.claim', request: r.id }, message, 'claim it') }, 'Claim') : null,
              r.status === 'claimed' && r.claimed_by === me.id
                ? h('button', { type: 'button', class: 'secondary', 'data-focus': `release:${r.id}`, 'aria-label': `Release: ${r.topic}`, onclick: () => send('help', { type: 'help.release', request: r.id }, message, 'release it') }, 'Release')
                : null,
              h('button', { type: 'button', class: 'secondary', 'data-focus': `resolve:${r.id}`, 'aria-label': `Resolve: ${r.topic}`, onclick: () => send('help', { type: 'help.resolve', request: r.id }, message, 'resolve it') }, 'Resolve'),
            )
          : null,
      );
    replaceKeepingFocus($('#help-list'), open.map(row), $('#help-title'));
    $('#help-empty').hidden = open.length > 0;
    $('#help-closed').hidden = closed.length === 0;
    $('#help-closed summary').textContent = `Closed requests (${closed.length})`;
    setChildren($('#help-closed-list'), ...closed.slice(0, 30).map(row));
  };
  $('#help-title').tabIndex = -1;

  // ---------------------------------------------------------------- schedule
  let editingPhase = null;
  const scheduleMessage = $('#schedule-message');
  const phaseForm = (phase) => {
    const id = phase ? phase.id : 'new';
    const title = h('input', { id: `phase-${id}-title`, maxlength: '80', required: true, value: phase.title });
    const starts = h('input', { id: `phase-${id}-start`, type: 'datetime-local', required: true, value: toLocalInput(phase.starts_at) });
    const ends = h('input', { id: `phase-${id}-end`, type: 'datetime-local', required: true, value: toLocalInput(phase.ends_at) });
    const done = () => {
      editingPhase = null;
      renderSchedule();
      const edit = $(`#phase-admin [data-focus="edit:${phase.id}"]`);
      if (edit) edit.focus();
    };
    return h(
      'form',
      {
        class: 'phase-form',
        'data-phase': phase.id,
        onsubmit: (event) => {
          event.preventDefault();
          const startsAt = fromLocalInput(starts.value);
          const endsAt = fromLocalInput(ends.value);
          if (startsAt === null || endsAt === null || endsAt <= startsAt) {
            scheduleMessage.textContent = 'A phase must end after it starts.';
            return;
          }
          const command = { type: 'phase.edit', phase: phase.id, title: title.value.trim() };
          // Unchanged times keep their seconds.
          if (starts.value !== toLocalInput(phase.starts_at)) command.starts_at = startsAt;
          if (ends.value !== toLocalInput(phase.ends_at)) command.ends_at = endsAt;
          send('schedule', command, scheduleMessage, 'change the phase');
          done();
        },
        onkeydown: (event) => event.key === 'Escape' && done(),
      },
      h('div', { class: 'field' }, h('label', { for: title.id, text: 'Title' }), title),
      h('div', { class: 'field' }, h('label', { for: starts.id, text: 'Starts' }), starts),
      h('div', { class: 'field' }, h('label', { for: ends.id, text: 'Ends' }), ends),
      h('div', { class: 'tool-group' }, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: done }, 'Cancel')),
    );
  };
  const renderSchedule = () => {
    if (!schedule) return;
    const { when } = scheduleAt(schedule, client.serverNow());
    const editor = $('#phase-admin .phase-form');
    if (editor && editor.dataset.phase === editingPhase && schedule.phases.some((p) => p.id === editingPhase)) return; // typing wins; redrawn after
    const rows = schedule.phases.map((p) =>
      h(
        'li',
        { class: `phase ${when(p)}`, 'aria-current': when(p) === 'now' ? 'time' : null },
        editingPhase === p.id
          ? phaseForm(p)
          : [
              h('span', { class: 'phase-time', text: `${formatTime(p.starts_at)} – ${formatTime(p.ends_at)}` }),
              h('span', { class: 'phase-title' }, p.title, when(p) === 'now' ? h('strong', { text: ' · now' }) : null),
              h(
                'span',
                { class: 'tool-group' },
                h('button', { type: 'button', class: 'secondary', 'data-focus': `edit:${p.id}`, 'aria-label': `Edit ${p.title}`, onclick: () => ((editingPhase = p.id), renderSchedule(), $('#phase-admin .phase-form input').focus()) }, 'Edit'),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'secondary danger',
                    'data-focus': `delete:${p.id}`,
                    'aria-label': `Delete ${p.title}`,
                    onclick: () => window.confirm(`Delete the phase "${p.title}"?`) && send('schedule', { type: 'phase.delete', phase: p.id }, scheduleMessage, 'delete the phase'),
                  },
                  'Delete',
                ),
              ),
            ],
      ),
    );
    replaceKeepingFocus($('#phase-admin'), rows.length ? rows : [h('li', { class: 'hint', text: 'No phases yet.' })], $('#schedule-title'));
  };
  $('#schedule-title').tabIndex = -1;
  $('#phase-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const startsAt = fromLocalInput($('#phase-start').value);
    const endsAt = fromLocalInput($('#phase-end').value);
    if (startsAt === null || endsAt === null || endsAt <= startsAt) {
      scheduleMessage.textContent = 'A phase must end after it starts.';
      return;
    }
    send('schedule', { type: 'phase.add', title: $('#phase-title').value.trim(), starts_at: startsAt, ends_at: endsAt }, scheduleMessage, 'add the phase');
    $('#phase-title').value = '';
    $('#phase-title').focus();
  });

  // ---------------------------------------------------------------- briefs
  const briefsMessage = $('#briefs-message');
  let editing = null; // {id, editor}
  const renderBriefs = () => {
    if (!briefs) return;
    const rows = briefList(briefs).map((brief) => {
      const fork = brief.forked_from ? briefs.briefs[brief.forked_from.brief] : null;
      const last = brief.history[brief.history.length - 1];
      const usedBy = roster ? Object.values(roster.teams).filter((t) => t.brief === brief.id && !t.archived) : [];
      const node = h(
        'li',
        { class: brief.team ? 'brief-row fork' : 'brief-row', 'data-brief': brief.id },
        h('h3', { text: brief.title }),
        h(
          'p',
          { class: 'hint' },
          brief.team ? `${teamName(brief.team)}'s working version of “${fork ? fork.title : 'a brief'}” (from revision ${brief.forked_from.revision}) · ` : `${brief.partner} · `,
          `revision ${brief.revision}, ${formatTime(last.ts)} by ${nameOf(last.by) || 'someone'}`,
          usedBy.length ? ` · teams: ${usedBy.map((t) => t.name).join(', ')}` : '',
        ),
      );
      if (editing && editing.id === brief.id) {
        node.append(editing.editor.node);
      } else {
        node.append(
          h(
            'details',
            { class: 'brief-text' },
            h('summary', {}, 'Read'),
            h('div', { class: 'md' }, renderMarkdown(brief.body)),
          ),
          h('div', { class: 'tool-group' }, h('button', { type: 'button', class: 'secondary', 'data-focus': `edit:${brief.id}`, 'aria-label': `Edit ${brief.title}${brief.team ? ` (${teamName(brief.team)}'s version)` : ''}`, onclick: () => openEditor(brief) }, 'Edit')),
        );
      }
      return node;
    });
    // An editor keeps its node (and so what is typed in it) across redraws.
    replaceKeepingFocus($('#brief-admin'), rows.length ? rows : [h('li', { class: 'hint', text: 'No briefs yet.' })], $('#briefs-title'));
    const teamBrief = $('#team-brief');
    const chosen = teamBrief.value;
    setChildren(teamBrief, h('option', { value: '', text: 'No brief' }), ...briefList(briefs).filter((b) => !b.team).map((b) => h('option', { value: b.id, text: b.title })));
    teamBrief.value = chosen;
  };
  $('#briefs-title').tabIndex = -1;
  const openEditor = (brief) => {
    const editor = new BriefEditor({
      client,
      brief,
      latest: () => briefs && briefs.briefs[brief.id],
      names: nameOf,
      onClose: (saved) => {
        editing = null;
        renderBriefs();
        const edit = $(`#brief-admin [data-focus="edit:${brief.id}"]`);
        if (edit) edit.focus();
        if (saved) announce('Brief saved.');
      },
    });
    editing = { id: brief.id, editor };
    renderBriefs();
    editor.focus();
  };
  $('#brief-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const command = { type: 'brief.create', title: $('#brief-title').value.trim(), partner: $('#brief-partner').value.trim(), body: $('#brief-body').value };
    send('briefs', command, briefsMessage, 'add the brief').done.then(() => {
      for (const id of ['#brief-title', '#brief-partner', '#brief-body']) $(id).value = '';
      announce('Brief added.');
    }, () => {});
  });

  // ---------------------------------------------------------------- teams and people
  const rosterMessage = $('#roster-message');
  let renamingTeam = null;
  const renderConnected = () => {
    $('#connected-title').textContent = `Connected now (${present.length})`;
    setChildren(
      $('#connected-list'),
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
  const removePerson = (person) => {
    if (!window.confirm(`Remove ${person.name} from the event? They are signed out at once and cannot come back with their link.`)) return;
    send('roster', { type: 'participant.remove', participant: person.id }, rosterMessage, `remove ${person.name}`);
  };
  const teamForm = (team) => {
    const name = h('input', { id: `team-${team.id}-name`, maxlength: '60', required: true, value: team.name });
    const needs = h('input', { id: `team-${team.id}-needs`, value: team.needs.join(', ') });
    const done = () => {
      renamingTeam = null;
      renderRoster();
      const edit = $(`#roster-body [data-focus="edit:${team.id}"]`);
      if (edit) edit.focus();
    };
    return h(
      'form',
      {
        class: 'team-form',
        onsubmit: (event) => {
          event.preventDefault();
          const newName = name.value.trim();
          const newNeeds = parseList(needs.value);
          if (newName && newName !== team.name) send('roster', { type: 'team.rename', team: team.id, name: newName }, rosterMessage, 'rename the team');
          if (newNeeds.join('\n') !== team.needs.join('\n')) send('roster', { type: 'team.needs', team: team.id, needs: newNeeds }, rosterMessage, 'change what it needs');
          done();
        },
        onkeydown: (event) => event.key === 'Escape' && done(),
      },
      h('div', { class: 'field' }, h('label', { for: name.id, text: 'Team name' }), name),
      h('div', { class: 'field' }, h('label', { for: needs.id, text: 'Skills it needs (commas between)' }), needs),
      h('div', { class: 'tool-group' }, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: done }, 'Cancel')),
    );
  };
  const renderRoster = () => {
    if (!roster) return;
    if (roster.event && roster.event.name) $('#event-name').textContent = roster.event.name;
    if (renamingTeam && $('#roster-body .team-form') && document.activeElement && document.activeElement.closest('.team-form')) return; // typing wins
    const here = new Set(present.map((member) => member.id));
    const active = Object.values(roster.participants).filter((person) => !person.removed);
    const personItem = (person) =>
      h(
        'li',
        {},
        person.id === me.id ? `${person.name} (you)` : person.name,
        here.has(person.id) ? h('span', { class: 'here-mark' }, ' ● connected') : null,
        person.skills && person.skills.length ? h('span', { class: 'skills', text: `Skills: ${person.skills.join(', ')}` }) : null,
        person.id !== me.id
          ? h('button', { type: 'button', class: 'link danger', 'data-focus': `remove:${person.id}`, 'aria-label': `Remove ${person.name} from the event`, onclick: () => removePerson(person) }, 'Remove')
          : null,
      );
    const group = (title, members, team) =>
      h(
        'div',
        { class: 'team', 'data-team': team ? team.id : null },
        h('h3', { text: `${title} (${members.length})` }),
        team && renamingTeam === team.id ? teamForm(team) : null,
        team && renamingTeam !== team.id
          ? [
              h(
                'p',
                { class: 'hint' },
                team.brief && briefs && briefs.briefs[team.brief] ? `Brief: ${briefs.briefs[team.brief].title}. ` : '',
                team.needs.length ? `Needs: ${team.needs.join(', ')}. ` : '',
                team.missing.length ? h('strong', { class: 'missing', text: `Missing: ${team.missing.join(', ')}.` }) : team.needs.length ? 'Has every skill it asked for.' : '',
              ),
              h(
                'div',
                { class: 'tool-group' },
                h('button', { type: 'button', class: 'secondary', 'data-focus': `edit:${team.id}`, 'aria-label': `Rename or change ${team.name}`, onclick: () => ((renamingTeam = team.id), renderRoster(), $('#roster-body .team-form input').focus()) }, 'Rename'),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'secondary danger',
                    'data-focus': `archive:${team.id}`,
                    'aria-label': `Archive ${team.name}`,
                    onclick: () => window.confirm(`Archive ${team.name}? Its members become teamless; its board, room and output stay.`) && send('roster', { type: 'team.archive', team: team.id }, rosterMessage, 'archive the team'),
                  },
                  'Archive',
                ),
              ),
            ]
          : null,
        members.length ? h('ul', { class: 'people' }, members.map(personItem)) : h('p', { class: 'hint', text: 'Nobody yet.' }),
      );
    const groups = openTeams().map((team) => group(team.name, active.filter((p) => p.team === team.id), team));
    groups.push(group('Not in a team yet', active.filter((p) => p.role === 'participant' && !p.team)));
    groups.push(group('Organisers and displays', active.filter((p) => p.role !== 'participant')));
    const archived = Object.values(roster.teams).filter((t) => t.archived);
    if (archived.length) groups.push(h('p', { class: 'hint', text: `Archived teams: ${archived.map((t) => t.name).join(', ')}` }));
    replaceKeepingFocus($('#roster-body'), groups, $('#roster-title'));
  };
  $('#roster-title').tabIndex = -1;
  $('#team-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const command = { type: 'team.create', name: $('#team-name').value.trim(), needs: parseList($('#team-needs').value) };
    if ($('#team-brief').value) command.brief = $('#team-brief').value;
    send('roster', command, rosterMessage, 'add the team').done.then(() => {
      $('#team-name').value = '';
      $('#team-needs').value = '';
      announce('Team added.');
    }, () => {});
  });

  // ---------------------------------------------------------------- outputs
  const renderOutputs = () => {
    if (!outputs || !roster) return;
    const teams = Object.values(roster.teams)
      .filter((t) => !t.archived || outputs.outputs[t.id])
      .sort((a, b) => a.name.localeCompare(b.name));
    const safeLink = (url) => (/^https?:\/\//.test(url) ? h('a', { href: url, rel: 'noopener noreferrer', target: '_blank', text: url }) : url);
    setChildren(
      $('#output-list'),
      ...teams.map((team) => {
        const out = outputs.outputs[team.id];
        if (!out) return h('li', { class: 'output none' }, h('h3', { text: team.name }), h('p', { class: 'hint', text: 'Nothing recorded yet.' }));
        return h(
          'li',
          { class: 'output' },
          h('h3', {}, `${team.name}: `, h('span', { text: out.title })),
          out.description ? h('p', { class: 'output-text', text: out.description }) : null,
          out.links.length ? h('p', {}, 'Links: ', ...out.links.flatMap((url, i) => [i ? ', ' : '', safeLink(url)])) : null,
          out.photos.length ? h('p', {}, 'Photos: ', ...out.photos.flatMap((url, i) => [i ? ', ' : '', safeLink(url)])) : null,
          out.next_steps ? h('p', { class: 'output-text' }, h('strong', { text: 'Next steps: ' }), out.next_steps) : null,
          out.carried_on_by.length ? h('p', {}, h('strong', { text: 'Carried on by: ' }), out.carried_on_by.join(', ')) : null,
          h('p', { class: 'hint', text: `Saved ${formatTime(out.updated_at)} by ${nameOf(out.updated_by) || 'someone'}` }),
        );
      }),
    );
  };

  // ---------------------------------------------------------------- export
  for (const button of document.querySelectorAll('[data-export]')) {
    button.addEventListener('click', async () => {
      const format = button.dataset.export;
      const said = $('#export-message');
      said.textContent = 'Preparing the download…';
      button.disabled = true;
      try {
        const { token } = await source();
        const response = await fetch(`/api/events/${encodeURIComponent(eventId)}/export?format=${format}`, {
          headers: { authorization: `Bearer ${token}` },
          cache: 'no-store',
          credentials: 'omit',
        });
        if (!response.ok) {
          let text = response.statusText;
          try {
            text = (await response.json()).error.message;
          } catch {
            // keep the status text
          }
          throw new Error(text);
        }
        const blob = await response.blob();
        const disposition = response.headers.get('content-disposition') || '';
        const match = /filename="?([^";]+)"?/.exec(disposition);
        const name = match ? match[1] : `makeroom-${eventId}.${format === 'markdown' ? 'md' : format}`;
        const url = URL.createObjectURL(blob);
        const a = h('a', { href: url, download: name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        said.textContent = `Downloaded ${name}.`;
      } catch (err) {
        said.textContent = `Could not export: ${err.message}.`;
      } finally {
        button.disabled = false;
      }
    });
  }

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

  // ---------------------------------------------------------------- following the state
  new StateChannel(client, 'roster', {
    onChange: (state) => {
      if (!state) return;
      roster = state;
      renderRoster();
      renderShow();
      renderHelp();
      renderOutputs();
      renderBriefs();
      renderAnnouncements();
    },
  }).start();
  new StateChannel(client, 'briefs', {
    onChange: (state) => {
      if (!state) return;
      briefs = state;
      if (editing) editing.editor.update();
      renderBriefs();
    },
  }).start();
  new StateChannel(client, 'schedule', {
    onChange: (state) => {
      schedule = state;
      renderSchedule();
    },
  }).start();
  new StateChannel(client, 'presentations', {
    onChange: (state) => {
      presentations = state;
      renderShow();
    },
  }).start();
  new StateChannel(client, 'help', {
    onChange: (state, detail) => {
      help = state;
      renderHelp();
      const data = detail && detail.publication && detail.publication.data;
      if (data && data.type === 'asked') announce(`${teamName(data.team)} asks for help: ${data.topic}`);
    },
  }).start();
  new StateChannel(client, 'outputs', {
    onChange: (state) => {
      outputs = state;
      renderOutputs();
    },
  }).start();

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
    if (event.channel !== 'announcements') return;
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
  });
  client.on('pub', (publication) => {
    if (publication.channel === 'announcements') {
      announcements.set(publication.offset, publication);
      renderAnnouncements();
    }
  });
  client.on('presence', ({ channel, members }) => {
    if (channel !== 'lobby') return;
    present = members;
    renderConnected();
    renderRoster();
  });
  client.on('outbox', renderAnnouncements);
  client.on('failed', ({ entry, error }) => {
    if (entry.channel !== 'announcements' || switchVia(entry, error)) return;
    const text = body(entry).text;
    fail(text ? `The announcement "${String(text).slice(0, 40)}" was not posted: ${error.message}.` : `That change was not made: ${error.message}.`);
  });
  client.on('status', ({ status }) => {
    if (status === Status.ONLINE) {
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
  // The schedule's "now" moves on by itself.
  setInterval(renderSchedule, 30000);

  subscribeAnnouncements(client);
  client.subscribe('lobby', { presence: true }).catch(() => {});
  renderAnnouncements();
  client.connect();
  window.makeroom = client;
}

signIn().then((signedIn) => {
  if (signedIn) start(signedIn);
});
