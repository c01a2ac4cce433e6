// The participant's room: /room?event=ID, phone first. Sections as tabs: the team chat and the lobby,
// the team's task board (and every other team's, read only), its brief with the revision history,
// the teams with who is in them and which skills they miss, and the schedule. Announcements stay on
// top (urgent ones are acknowledged), help is one tap away, the connection status is always told, and
// what is written or changed offline is kept and sent once the phone is back.

import { Makeroom, Status, api, tokenSource } from './makeroom.js';
import { StateChannel, briefList, formatClock, formatWait, isOpenRequest, remainingMs, revisionText, scheduleAt, workingVersion } from './state.js';
import {
  $,
  announcementItem,
  currentSession,
  forgetSession,
  formatTime,
  h,
  saveSession,
  setChildren,
  announce,
  announcementSpeech,
  announcementsFromSnapshot,
  foldAnnouncements,
  newestThenPinned,
  subscribeAnnouncements,
  showStatus,
} from './ui.js';
import { BoardView, BriefEditor, renderMarkdown, replaceKeepingFocus, tabList } from './views.js';

const PAGE = 50; // messages per history request
const KEEP = 500; // messages kept per chat before the oldest are let go
const ANNOUNCEMENTS_LOADED = 50; // publications read back (pins and acknowledgements take offsets too)

/** One chat channel's messages: stored ones by offset, then this person's not yet stored ones. */
class ChatView {
  constructor({ client, channel, panel, title, meId, onUnread }) {
    this.client = client;
    this.channel = channel;
    this.meId = meId;
    this.onUnread = onUnread;
    this.messages = new Map(); // offset -> publication
    this.nodes = new Map(); // offset -> <li>
    this.pending = new Map(); // key -> {entry, state: 'sending'|'stored'|'failed', offset, error, node}
    this.first = null; // the oldest offset history holds
    this.want = null; // history still to load: {offset}
    this.unread = 0;
    this.active = false;
    this.panel = panel;
    this.earlier = h('button', { type: 'button', class: 'secondary earlier', hidden: true, onclick: () => this.loadEarlier() }, 'Show earlier messages');
    this.empty = h('p', { class: 'empty', text: 'No messages yet. Say hello!' });
    // The list becomes a live log once its backlog is loaded, so that the backlog is not read out.
    this.list = h('ol', { class: 'messages', 'aria-label': `${title} messages` });
    panel.append(this.earlier, this.empty, this.list);
  }

  setTitle(title) {
    this.list.setAttribute('aria-label', `${title} messages`);
  }

  /** The channel must be reloaded from history up to `offset` (null: the newest). */
  resync({ offset, reason }) {
    if (reason !== 'initial' && reason !== 'gap') {
      this.messages.clear();
      this.nodes.clear();
    }
    this.want = { offset };
    this.loadWanted();
  }

  async loadWanted() {
    const want = this.want;
    if (!want || want.loading) return;
    want.loading = true;
    let result;
    try {
      const before = want.offset === null || want.offset === undefined ? undefined : want.offset + 1;
      result = await this.client.history(this.channel, { before, limit: PAGE });
    } catch {
      want.loading = false;
      return; // not connected now: loadWanted runs again when the connection is back
    }
    if (this.want !== want) return;
    this.want = null;
    this.first = result.first;
    for (const publication of result.publications) this.messages.set(publication.offset, publication);
    this.render({ toBottom: true });
    if (!this.list.hasAttribute('role')) {
      this.list.setAttribute('role', 'log');
      this.list.setAttribute('aria-live', 'polite');
      this.list.setAttribute('aria-relevant', 'additions');
    }
  }

  async loadEarlier() {
    const oldest = this.oldest();
    if (oldest === null) return;
    this.earlier.disabled = true;
    try {
      const result = await this.client.history(this.channel, { before: oldest, limit: PAGE });
      this.first = result.first;
      const height = this.panel.scrollHeight;
      for (const publication of result.publications) this.messages.set(publication.offset, publication);
      this.render();
      this.panel.scrollTop += this.panel.scrollHeight - height;
    } catch {
      // offline: the button stays for another try
    } finally {
      this.earlier.disabled = false;
    }
  }

  oldest() {
    let oldest = null;
    for (const offset of this.messages.keys()) if (oldest === null || offset < oldest) oldest = offset;
    return oldest;
  }

  add(publication) {
    if (this.messages.has(publication.offset)) return;
    this.messages.set(publication.offset, publication);
    const mine = publication.from.id === this.meId;
    if (!this.active && !mine) {
      this.unread += 1;
      this.onUnread(this.unread);
    }
    if (this.messages.size > KEEP) {
      const offsets = [...this.messages.keys()].sort((a, b) => a - b);
      for (const offset of offsets.slice(0, this.messages.size - KEEP)) {
        this.messages.delete(offset);
        this.nodes.delete(offset);
      }
    }
    this.render({ toBottom: mine });
  }

  /** Shows what waits in the outbox for this channel as "Sending…". */
  syncOutbox(entries) {
    let changed = false;
    const waiting = new Set();
    for (const entry of entries) {
      if (entry.channel !== this.channel) continue;
      waiting.add(entry.key);
      if (this.pending.has(entry.key)) continue;
      this.pending.set(entry.key, { entry, state: 'sending' });
      changed = true;
    }
    // Gone from the outbox without a `sent` here: another tab sent it; its message arrives as a pub.
    for (const [key, item] of this.pending) {
      if (item.state === 'sending' && !waiting.has(key)) {
        this.pending.delete(key);
        changed = true;
      }
    }
    if (changed) this.render({ toBottom: true });
  }

  markSent(key, offset) {
    const item = this.pending.get(key);
    if (!item) return;
    item.state = 'stored';
    item.offset = offset;
    item.node = null;
    this.render();
  }

  markFailed(entry, error) {
    const item = this.pending.get(entry.key) || { entry };
    item.state = 'failed';
    item.error = error;
    item.node = null;
    this.pending.set(entry.key, item);
    this.render({ toBottom: true });
  }

  activate(active) {
    this.active = active;
    if (active) {
      this.unread = 0;
      this.onUnread(0);
      this.panel.scrollTop = this.panel.scrollHeight;
    }
  }

  nodeFor(publication) {
    let node = this.nodes.get(publication.offset);
    if (node) return node;
    const mine = publication.from.id === this.meId;
    node = h(
      'li',
      { class: mine ? 'msg mine' : 'msg' },
      h(
        'p',
        { class: 'meta' },
        h('span', { class: 'who', text: mine ? 'You' : publication.from.name }),
        publication.from.role !== 'participant' ? h('span', { class: 'role', text: publication.from.role }) : null,
        h('time', { datetime: new Date(publication.ts).toISOString(), text: formatTime(publication.ts) }),
      ),
      h('p', { class: 'text', text: (publication.data && publication.data.text) || '' }),
    );
    this.nodes.set(publication.offset, node);
    return node;
  }

  pendingNode(key, item) {
    if (item.node) return item.node;
    const failed = item.state === 'failed';
    const state = failed
      ? h(
          'p',
          { class: 'state' },
          `Not sent: ${item.error && item.error.message ? item.error.message : 'refused'}. `,
          h('button', { type: 'button', class: 'link', onclick: () => this.dismiss(key) }, 'Dismiss'),
        )
      : h('p', { class: 'state', text: item.state === 'stored' ? 'Sent' : 'Sending…' });
    item.node = h(
      'li',
      { class: failed ? 'msg mine failed' : 'msg mine pending', 'data-key': key },
      h('p', { class: 'meta' }, h('span', { class: 'who', text: 'You' })),
      h('p', { class: 'text', text: (item.entry.data && item.entry.data.text) || '' }),
      state,
    );
    return item.node;
  }

  dismiss(key) {
    this.pending.delete(key);
    this.render();
  }

  render({ toBottom = false } = {}) {
    const panel = this.panel;
    const nearBottom = panel.scrollHeight - panel.scrollTop - panel.clientHeight < 120;
    const oldest = this.oldest();
    // A stored message of ours shows once, as itself, as soon as it is among the messages.
    for (const [key, item] of this.pending) {
      if (item.state !== 'stored') continue;
      if (this.messages.has(item.offset) || (oldest !== null && item.offset < oldest)) this.pending.delete(key);
    }
    const offsets = [...this.messages.keys()].sort((a, b) => a - b);
    const wanted = offsets.map((offset) => this.nodeFor(this.messages.get(offset)));
    for (const [key, item] of this.pending) wanted.push(this.pendingNode(key, item));
    const keep = new Set(wanted);
    for (const child of [...this.list.children]) if (!keep.has(child)) child.remove();
    let cursor = this.list.firstChild;
    for (const node of wanted) {
      if (node === cursor) cursor = cursor.nextSibling;
      else this.list.insertBefore(node, cursor);
    }
    this.empty.hidden = wanted.length > 0 || this.want !== null;
    this.earlier.hidden = !(this.first !== null && oldest !== null && oldest > Math.max(this.first, 1));
    if (toBottom || nearBottom) panel.scrollTop = panel.scrollHeight;
  }
}

function showTerminal(html) {
  const box = $('#terminal');
  setChildren(box, ...html);
  box.hidden = false;
  $('#composer').hidden = true;
}

/** Splits "design, Rust ,writing" into skills, as the join page does. */
const parseSkills = (text) =>
  text
    .split(',')
    .map((skill) => skill.trim())
    .filter(Boolean);

function start(session) {
  const eventId = session.event.id;
  const me = session.participant;
  let teamId = session.team || null;
  let teamNames = new Map(); // from /api/join, until the roster is here

  $('#event-name').textContent = session.event.name;
  document.title = `${session.event.name} · Makeroom`;

  const client = new Makeroom({
    getToken: tokenSource(session.refresh_token),
    outboxKey: `makeroom:outbox:${eventId}:${me.id}`,
  });
  showStatus($('#status'), client, { waiting: () => client.outbox.length });

  // ---------------------------------------------------------------- shared state
  let roster = null;
  let briefs = null;
  let schedule = null;
  let presentations = null;
  let help = null;
  const nameOf = (id) => {
    if (id === 'system') return 'Makeroom';
    if (id === me.id) return me.name;
    const person = roster && roster.participants[id];
    return person ? person.name : null;
  };
  const teamOf = (id) => (roster && roster.teams[id]) || null;
  const teamName = (id = teamId) => {
    if (!id) return null;
    const team = teamOf(id);
    return team ? team.name : teamNames.get(id) || 'Your team';
  };
  const openTeams = () =>
    roster
      ? Object.values(roster.teams)
          .filter((team) => !team.archived)
          .sort((a, b) => a.name.localeCompare(b.name))
      : [];

  // ---------------------------------------------------------------- sections and chats
  const main = $('#main');
  main.hidden = false;
  $('#section-tabs').hidden = false;
  $('#composer').hidden = false;
  $('#help-toggle').hidden = false;
  const chatView = $('#view-chat');
  const tabs = { team: $('#tab-team'), lobby: $('#tab-lobby') };
  const badges = { team: $('#badge-team'), lobby: $('#badge-lobby') };
  const unreadCounts = { team: 0, lobby: 0 };
  const panels = {};
  for (const name of ['team', 'lobby']) {
    panels[name] = h('section', { class: 'panel', role: 'tabpanel', id: `panel-${name}`, 'aria-labelledby': `tab-${name}`, tabindex: '0', hidden: true });
    chatView.insertBefore(panels[name], $('#composer'));
  }
  const teamHere = h('p', { class: 'here', 'aria-live': 'polite' });
  const noTeam = h('p', { class: 'empty' }, 'You are not in a team yet. Chat in the lobby, or pick a team under Teams.');
  panels.team.append(teamHere, noTeam);
  let active = 'team'; // the chat shown: team or lobby
  let section = 'chat'; // the section shown
  const showChatBadge = () => {
    const total = section === 'chat' ? 0 : unreadCounts.team + unreadCounts.lobby;
    $('#badge-chat').textContent = total > 0 ? `${total} new` : '';
  };
  const unread = (name) => (count) => {
    unreadCounts[name] = count;
    badges[name].textContent = count > 0 ? `${count} new` : '';
    showChatBadge();
  };
  const views = {
    lobby: new ChatView({ client, channel: 'lobby', panel: panels.lobby, title: 'Lobby', meId: me.id, onUnread: unread('lobby') }),
    team: null,
  };
  const refreshLabels = () => {
    $('#who').textContent = `${me.name} · ${teamName() || 'no team yet'}`;
    $('#tab-team-name').textContent = teamName() || 'Team';
    if (views.team) views.team.setTitle(teamName());
    const label = active === 'lobby' ? 'Message to the lobby' : `Message to ${teamName()}`;
    $('#message-label').textContent = label;
    $('#message-input').placeholder = active === 'lobby' ? 'Message everyone in the lobby' : `Message ${teamName()}`;
    noTeam.hidden = Boolean(teamId);
    teamHere.hidden = !teamId;
  };

  const select = (name, { focus = false } = {}) => {
    active = name;
    for (const [key, tab] of Object.entries(tabs)) {
      const on = key === name;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      panels[key].hidden = !on;
      if (views[key]) views[key].activate(on && section === 'chat');
    }
    if (focus) tabs[name].focus();
    $('#message-input').disabled = name === 'team' && !teamId;
    refreshLabels();
  };
  for (const [name, tab] of Object.entries(tabs)) {
    tab.addEventListener('click', () => select(name));
    tab.addEventListener('keydown', (event) => {
      const order = ['team', 'lobby'];
      let next = null;
      if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') next = order[(order.indexOf(name) + 1) % 2];
      if (event.key === 'Home') next = 'team';
      if (event.key === 'End') next = 'lobby';
      if (next) {
        event.preventDefault();
        select(next, { focus: true });
      }
    });
  }

  const renderers = {}; // section -> render(), filled in below
  const selectSection = tabList($('#section-tabs'), {
    onSelect: (name) => {
      section = name;
      if (views[active]) views[active].activate(name === 'chat');
      for (const key of ['team', 'lobby']) if (key !== active && views[key]) views[key].activate(false);
      showChatBadge();
      if (renderers[name]) renderers[name]();
      try {
        sessionStorage.setItem('makeroom:room-section', name);
      } catch {
        // remembered for this page only
      }
    },
  });

  const setTeam = (newTeam) => {
    newTeam = newTeam || null;
    const changed = newTeam !== teamId;
    if (views.team && views.team.channel === `team:${newTeam}`) return;
    if (views.team) {
      client.unsubscribe(views.team.channel);
      views.team.list.remove();
      views.team.earlier.remove();
      views.team.empty.remove();
      views.team = null;
      unread('team')(0);
    }
    teamId = newTeam;
    if (teamId) {
      views.team = new ChatView({ client, channel: `team:${teamId}`, panel: panels.team, title: teamName(), meId: me.id, onUnread: unread('team') });
      views.team.activate(active === 'team' && section === 'chat');
      views.team.syncOutbox(client.outbox);
      client.subscribe(`team:${teamId}`, { presence: true }).catch(() => {});
    }
    refreshLabels();
    if (changed) onTeamChanged();
  };

  /** Follows a change of this person's team to the places that show it. */
  const teamMoved = (newTeam) => {
    newTeam = newTeam || null;
    if (newTeam !== session.team) {
      session.team = newTeam;
      saveSession('participant', session);
    }
    if (!views.team || views.team.channel !== `team:${newTeam}`) {
      setTeam(newTeam);
      if (newTeam && !teamOf(newTeam) && !teamNames.has(newTeam)) loadTeamNames();
      if (!newTeam && active === 'team') select('lobby');
    }
  };

  const loadTeamNames = async () => {
    if (!session.code) return;
    try {
      const info = await api(`/api/join/${encodeURIComponent(session.code)}`);
      teamNames = new Map(info.teams.map((team) => [team.id, team.name]));
      refreshLabels();
    } catch {
      // names stay generic until the roster arrives
    }
  };

  // ---------------------------------------------------------------- announcements
  const announcements = new Map(); // offset -> publication
  let announcementBase = []; // from a snapshot, where the server sends one
  let freshOffset = null;
  const expanded = new Set(); // ids of compact announcements shown whole
  const ack = (item, button) => {
    button.disabled = true;
    button.textContent = 'Sending…';
    client.command('announcements', { type: 'announcement.ack', announcement: item.id });
  };
  const renderAnnouncements = () => {
    // The newest on top, and pinned ones stay in view; the rest fold away.
    const acking = new Set(client.outbox.filter((e) => e.channel === 'announcements' && e.command && e.command.type === 'announcement.ack').map((e) => e.command.announcement));
    const folded = foldAnnouncements([...announcements.values()], announcementBase).map((item) =>
      acking.has(item.id) ? { ...item, acknowledged_by: item.acknowledged_by.concat([me.id]) } : item,
    );
    const ordered = newestThenPinned(folded);
    // Urgent ones this person has not acknowledged stay in view too.
    const needsAck = (item) => item.priority === 'urgent' && !item.acknowledged_by.includes(me.id);
    const inView = ordered.filter((item, index) => index === 0 || needsAck(item)).slice(0, 3);
    for (const item of ordered.slice(1)) if (inView.length < 3 && item.pinned && !inView.includes(item)) inView.push(item);
    $('#announcements').hidden = ordered.length === 0;
    const options = { onAck: ack, meId: me.id, names: nameOf };
    const latest = inView.map((item, index) => {
      const node = announcementItem(item, options);
      if (item.offset === freshOffset) node.classList.add('fresh');
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
                renderAnnouncements();
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
  let announcementsWanted = null;
  const loadAnnouncements = async () => {
    const want = announcementsWanted;
    if (!want || want.loading) return;
    want.loading = true;
    let result;
    try {
      const before = want.offset === null || want.offset === undefined ? undefined : want.offset + 1;
      result = await client.history('announcements', { before, limit: ANNOUNCEMENTS_LOADED });
    } catch {
      want.loading = false;
      return; // retried when back online
    }
    if (announcementsWanted !== want) return;
    announcementsWanted = null;
    for (const publication of result.publications) announcements.set(publication.offset, publication);
    renderAnnouncements();
  };

  // ---------------------------------------------------------------- help
  const helpToggle = $('#help-toggle');
  const helpSheet = $('#help-sheet');
  const showHelp = (open) => {
    helpSheet.hidden = !open;
    helpToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) {
      renderHelp();
      (teamId ? $('#help-topic') : helpSheet.querySelector('h2')).focus();
    }
  };
  helpSheet.querySelector('h2').tabIndex = -1;
  helpToggle.addEventListener('click', () => showHelp(helpSheet.hidden));
  $('#help-close').addEventListener('click', () => {
    showHelp(false);
    helpToggle.focus();
  });
  helpSheet.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      showHelp(false);
      helpToggle.focus();
    }
  });
  $('#help-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const topic = $('#help-topic').value.trim();
    if (!topic) return $('#help-topic').focus();
    $('#help-message').textContent = '';
    const location = $('#help-location').value.trim();
    client.command('help', { type: 'help.ask', topic, location });
    $('#help-topic').value = '';
    announce('Help requested. An organiser will see it.');
  });
  const helpStatus = (request) => {
    if (request.status === 'claimed') return `${nameOf(request.claimed_by) || 'An organiser'} is on the way`;
    return 'Waiting for a helper';
  };
  const renderHelp = () => {
    const mine = help && teamId ? help.requests.filter((r) => r.team === teamId && isOpenRequest(r)) : [];
    const waiting = client.outbox.filter((e) => e.channel === 'help' && e.command && e.command.type === 'help.ask');
    $('#help-count').textContent = mine.length + waiting.length > 0 ? ` (${mine.length + waiting.length} open)` : '';
    $('#help-form').hidden = !teamId;
    $('#help-teamless').hidden = Boolean(teamId);
    if (helpSheet.hidden) return;
    const rows = [
      ...waiting.map((e) => h('li', { class: 'request pending' }, h('p', { class: 'topic', text: e.command.topic }), h('p', { class: 'hint', text: 'Waiting to be sent…' }))),
      ...mine.map((request) =>
        h(
          'li',
          { class: `request ${request.status}`, 'data-request': request.id },
          h('p', { class: 'topic', text: request.topic }),
          h('p', { class: 'hint' }, request.location ? `${request.location} · ` : '', `Asked ${formatTime(request.asked_at)} by ${nameOf(request.asked_by) || 'your team'}`),
          h('p', { class: 'request-status' }, h('span', { 'aria-hidden': 'true', text: request.status === 'claimed' ? '● ' : '○ ' }), helpStatus(request)),
          h(
            'div',
            { class: 'tool-group' },
            h('button', { type: 'button', class: 'secondary', 'data-focus': `resolve:${request.id}`, 'aria-label': `It's sorted: ${request.topic}`, onclick: () => client.command('help', { type: 'help.resolve', request: request.id }) }, "✓ It's sorted"),
            request.status === 'open'
              ? h('button', { type: 'button', class: 'secondary', 'data-focus': `cancel:${request.id}`, 'aria-label': `Cancel: ${request.topic}`, onclick: () => client.command('help', { type: 'help.cancel', request: request.id }) }, 'Cancel')
              : null,
          ),
        ),
      ),
    ];
    replaceKeepingFocus($('#help-list'), rows, $('#help-topic'));
    $('#help-empty').hidden = rows.length > 0;
  };

  // ---------------------------------------------------------------- board
  let board = null; // {team, channel, view, follow}
  let boardPick = null; // the team whose board is picked; null: this person's own
  const boardTeam = () => boardPick || teamId || (openTeams()[0] && openTeams()[0].id) || null;
  const showBoard = () => {
    const team = boardTeam();
    const editable = Boolean(team) && team === teamId;
    if (board && board.team === team && board.editable === editable) return;
    if (board) {
      board.follow.stop();
      board.view.destroy();
      board.root.remove();
      board = null;
    }
    $('#board-message').textContent = '';
    if (!team) return;
    const channel = `board:${team}`;
    const root = h('section', { class: 'board', id: 'board' });
    $('#board-holder').append(root);
    const view = new BoardView({
      root,
      client,
      channel,
      editable,
      names: nameOf,
      meId: me.id,
      label: `${teamName(team)}'s task board`,
      onMessage: (text) => ($('#board-message').textContent = text),
    });
    const follow = new StateChannel(client, channel, {
      onChange: (state, detail) => {
        if (detail && detail.error) $('#board-message').textContent = `Could not load this board: ${detail.error.message}.`;
        else if (state) view.setState(state, follow.offset);
      },
    });
    board = { team, channel, editable, view, follow, root };
    follow.start();
  };
  const renderBoardHead = () => {
    const team = boardTeam();
    const pick = $('#board-pick');
    const options = [];
    if (teamId) options.push(h('option', { value: teamId, text: `${teamName(teamId)} (your team)` }));
    for (const t of openTeams()) if (t.id !== teamId) options.push(h('option', { value: t.id, text: `${t.name} (read only)` }));
    const key = options.map((o) => `${o.value}:${o.textContent}`).join('|');
    if (pick.dataset.key !== key) {
      setChildren(pick, ...options);
      pick.dataset.key = key;
    }
    if (team) pick.value = team;
    pick.parentElement.hidden = options.length < 2;
    $('#board-title').textContent = team ? (team === teamId ? 'Your team\'s board' : `${teamName(team)}'s board`) : 'Boards';
    $('#board-note').textContent = !teamId
      ? 'You are not in a team yet, so boards are read only. Pick a team under Teams to work on its board.'
      : team !== teamId
        ? 'Another team\'s board: you can look, only its members change it.'
        : 'Tap a card for its actions, or drag it by its handle ⠿.';
  };
  $('#board-pick').addEventListener('change', (event) => {
    boardPick = event.target.value === teamId ? null : event.target.value;
    renderBoardHead();
    showBoard();
  });
  renderers.board = () => {
    renderBoardHead();
    showBoard();
  };

  // ---------------------------------------------------------------- brief
  let briefPick = null; // the brief picked by hand, else the team's
  let reading = null; // {brief, revision, title, body} of an old revision being read
  let forking = null; // the original brief whose working version was asked for
  const revisions = new Map(); // briefs offset -> {title, body}
  let editor = null;
  const defaultBrief = () => {
    if (!briefs) return null;
    const team = teamOf(teamId);
    if (team && team.brief) return workingVersion(briefs, teamId, team.brief) || briefs.briefs[team.brief] || null;
    const own = briefList(briefs).find((b) => b.team === teamId && teamId);
    return own || briefList(briefs).find((b) => !b.team) || null;
  };
  const shownBrief = () => (briefs && briefPick && briefs.briefs[briefPick]) || defaultBrief();
  const briefLabel = (brief) => (brief.team ? `${brief.title} (${brief.team === teamId ? 'your team' : teamName(brief.team)}'s version)` : brief.title);
  $('#brief-pick').addEventListener('change', (event) => {
    briefPick = event.target.value;
    reading = null;
    renderBrief();
  });
  const readRevision = async (brief, entry) => {
    $('#brief-message').textContent = '';
    let text = revisions.get(entry.offset);
    if (!text) {
      try {
        const result = await client.history('briefs', { before: entry.offset + 1, limit: 1 });
        const record = result.publications.find((p) => p.offset === entry.offset);
        text = revisionText(record);
        if (!text) throw new Error('that revision was not found');
        revisions.set(entry.offset, text);
      } catch (err) {
        $('#brief-message').textContent = `Could not load revision ${entry.revision}: ${err.message}. Try again when you are online.`;
        return;
      }
    }
    reading = { brief: brief.id, revision: entry.revision, entry, ...text };
    renderBrief();
    const banner = $('#brief .reading');
    if (banner) banner.focus();
  };
  const renderBrief = () => {
    const article = $('#brief');
    if (!briefs) {
      setChildren(article, h('p', { class: 'empty', text: 'Loading the briefs…' }));
      return;
    }
    const all = briefList(briefs);
    const brief = shownBrief();
    const pick = $('#brief-pick');
    const options = all.map((b) => h('option', { value: b.id, text: briefLabel(b) }));
    setChildren(pick, ...options);
    if (brief) pick.value = brief.id;
    if (!brief) {
      setChildren(article, h('p', { class: 'empty', text: 'No briefs yet.' }));
      return;
    }
    if (reading && reading.brief !== brief.id) reading = null;
    const original = brief.forked_from ? briefs.briefs[brief.forked_from.brief] : null;
    const ours = brief.team && brief.team === teamId;
    const fork = teamId && !brief.team ? workingVersion(briefs, teamId, brief.id) : null;
    const canEdit = ours || (brief.owner && brief.owner === me.id);
    const last = brief.history[brief.history.length - 1];
    const actions = [];
    if (teamId && !brief.team && !fork) {
      const waiting = forking === brief.id || client.outbox.some((e) => e.channel === 'briefs' && e.command && e.command.type === 'brief.fork' && e.command.brief === brief.id);
      actions.push(
        h(
          'button',
          {
            type: 'button',
            'data-focus': 'fork',
            disabled: waiting,
            onclick: () => {
              forking = brief.id;
              $('#brief-message').textContent = '';
              const entry = client.command('briefs', { type: 'brief.fork', brief: brief.id });
              entry.done.catch((err) => {
                forking = null;
                $('#brief-message').textContent = `Could not make a working version: ${err.message}.`;
                renderBrief();
              });
              renderBrief();
            },
          },
          waiting ? 'Making your working version…' : 'Make our working version',
        ),
      );
    }
    if (fork) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'open-fork', onclick: () => ((briefPick = fork.id), renderBrief()) }, 'Open our working version'));
    }
    if (original) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'open-original', onclick: () => ((briefPick = original.id), renderBrief()) }, 'Read the original'));
    }
    if (canEdit && !editor) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'edit', onclick: () => openEditor(brief) }, ours ? 'Edit our working version' : 'Edit this brief'));
    }
    const history = h(
      'details',
      { class: 'history' },
      h('summary', {}, `Revision history (${brief.history.length} ${brief.history.length === 1 ? 'revision' : 'revisions'})`),
      h(
        'ul',
        {},
        [...brief.history].reverse().map((entry) =>
          h(
            'li',
            {},
            h('span', {}, `Revision ${entry.revision} · `, h('time', { datetime: new Date(entry.ts).toISOString(), text: formatTime(entry.ts) }), ` · ${nameOf(entry.by) || 'someone'}`),
            entry.revision === brief.revision
              ? h('span', { class: 'current-mark', text: ' (current)' })
              : h('button', { type: 'button', class: 'link', 'data-focus': `rev:${entry.revision}`, onclick: () => readRevision(brief, entry) }, `Read revision ${entry.revision}`),
          ),
        ),
      ),
    );
    if (reading) history.open = true;
    const showing = reading
      ? [
          h(
            'div',
            { class: 'reading notice', tabindex: '-1' },
            h('p', {}, h('strong', { text: `You are reading revision ${reading.revision} of ${brief.revision}` }), ', not the current text.'),
            h('button', { type: 'button', class: 'secondary', 'data-focus': 'back', onclick: () => ((reading = null), renderBrief()) }, 'Back to the current text'),
          ),
          h('h3', { class: 'old-title', text: reading.title }),
          h('div', { class: 'md old' }, renderMarkdown(reading.body)),
        ]
      : [h('div', { class: 'md' }, brief.body ? renderMarkdown(brief.body) : h('p', { class: 'hint', text: 'This brief has no text yet.' }))];
    replaceKeepingFocus(
      article,
      [
        h('h2', { class: 'brief-title', text: brief.title }),
        h('p', { class: 'partner' }, 'Brief from ', h('strong', { text: brief.partner })),
        ours ? h('p', { class: 'fork-note', text: `Your team's working version, copied from revision ${brief.forked_from.revision} of the original. The original stays as the partner wrote it.` }) : null,
        brief.team && !ours ? h('p', { class: 'fork-note', text: `${teamName(brief.team)}'s working version of the original.` }) : null,
        h('p', { class: 'meta' }, `Revision ${brief.revision} · updated `, h('time', { datetime: new Date(last.ts).toISOString(), text: formatTime(last.ts) }), ` by ${nameOf(last.by) || 'someone'}`),
        actions.length ? h('div', { class: 'tool-group' }, actions) : null,
        editor ? editor.node : null,
        ...(editor ? [] : showing),
        history,
      ],
    );
  };
  const openEditor = (brief) => {
    editor = new BriefEditor({
      client,
      brief,
      latest: () => briefs && briefs.briefs[brief.id],
      names: nameOf,
      onClose: () => {
        editor = null;
        renderBrief();
        const edit = $('#brief [data-focus="edit"]');
        if (edit) edit.focus();
      },
    });
    renderBrief();
    editor.focus();
  };
  renderers.brief = renderBrief;

  // ---------------------------------------------------------------- teams
  const renderSkills = () => {
    const mine = roster && roster.participants[me.id];
    const skills = mine ? mine.skills || [] : [];
    $('#my-skills-text').textContent = skills.length ? skills.join(', ') : 'None listed yet. Add some so teams can find you.';
    const input = $('#skills-input');
    if (document.activeElement !== input && !input.dataset.dirty) input.value = skills.join(', ');
  };
  $('#skills-input').addEventListener('input', (event) => (event.target.dataset.dirty = '1'));
  $('#skills-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#skills-input');
    const skills = parseSkills(input.value);
    if (skills.length > 12) {
      $('#teams-message').textContent = 'Please list at most 12 skills.';
      return input.focus();
    }
    const long = skills.find((skill) => skill.length > 30);
    if (long) {
      $('#teams-message').textContent = `"${long.slice(0, 20)}…" is long: keep each skill under 30 characters.`;
      return input.focus();
    }
    $('#teams-message').textContent = '';
    delete input.dataset.dirty;
    client.command('roster', { type: 'skills.set', skills });
    announce('Skills saved.');
  });
  const rosterCommand = (command, what) => {
    $('#teams-message').textContent = '';
    client.command('roster', command).done.catch((err) => {
      $('#teams-message').textContent = `Could not ${what}: ${err.message}.`;
    });
  };
  const renderTeams = () => {
    renderSkills();
    if (!roster) return;
    const mySkills = new Set(((roster.participants[me.id] || {}).skills || []).map((s) => s.toLowerCase()));
    const waitingMove = () => client.outbox.some((e) => e.channel === 'roster' && e.command && (e.command.type === 'team.join' || e.command.type === 'team.leave'));
    const items = openTeams()
      .sort((a, b) => (b.id === teamId) - (a.id === teamId))
      .map((team) => {
      const ours = team.id === teamId;
      const brief = team.brief && briefs ? briefs.briefs[team.brief] : null;
      const members = team.members.map((id) => (id === me.id ? `${nameOf(id)} (you)` : nameOf(id)));
      const youHave = team.missing.filter((skill) => mySkills.has(skill.toLowerCase()));
      // Not disabled while a move waits, so the focus can stay on it; a second tap does nothing.
      const button = ours
        ? h('button', { type: 'button', class: 'secondary', 'data-focus': `team:${team.id}`, onclick: () => waitingMove() || rosterCommand({ type: 'team.leave' }, 'leave the team') }, 'Leave this team')
        : h(
            'button',
            { type: 'button', 'data-focus': `team:${team.id}`, 'aria-label': `${teamId ? 'Switch to' : 'Join'} ${team.name}`, onclick: () => waitingMove() || rosterCommand({ type: 'team.join', team: team.id }, `join ${team.name}`) },
            teamId ? 'Switch to this team' : 'Join this team',
          );
      return h(
        'li',
        { class: ours ? 'team-card ours' : 'team-card', 'data-team': team.id },
        h('h3', {}, team.name, ours ? h('span', { class: 'you-tag', text: ' · your team' }) : null),
        brief ? h('p', { class: 'team-brief' }, 'Brief: ', h('strong', { text: brief.title }), ` · ${brief.partner}`) : h('p', { class: 'team-brief hint', text: 'No brief' }),
        h('p', { class: 'members' }, h('strong', { text: `${members.length} ${members.length === 1 ? 'person' : 'people'}` }), members.length ? `: ${members.join(', ')}` : ''),
        team.needs.length
          ? team.missing.length
            ? h('p', { class: 'missing' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), 'Missing: ', h('strong', { text: team.missing.join(', ') }))
            : h('p', { class: 'complete' }, h('span', { 'aria-hidden': 'true', text: '✓ ' }), `Has every skill it asked for (${team.needs.join(', ')})`)
          : null,
        youHave.length && !ours ? h('p', { class: 'match', text: `You have what it misses: ${youHave.join(', ')}` }) : null,
        h('div', { class: 'tool-group' }, button),
      );
    });
    replaceKeepingFocus($('#team-list'), items);
    const teamless = Object.values(roster.participants).filter((p) => p.role === 'participant' && !p.removed && !p.team);
    $('#teamless').hidden = teamless.length === 0;
    setChildren(
      $('#teamless-list'),
      ...teamless.map((p) => h('li', {}, p.id === me.id ? `${p.name} (you)` : p.name, p.skills && p.skills.length ? h('span', { class: 'skills', text: `Skills: ${p.skills.join(', ')}` }) : null)),
    );
  };
  renderers.teams = renderTeams;

  // ---------------------------------------------------------------- schedule
  const renderSchedule = () => {
    if (section !== 'schedule') return;
    const now = client.serverNow();
    const list = $('#phase-list');
    if (!schedule) {
      setChildren(list, h('li', { class: 'empty', text: 'Loading the schedule…' }));
      return;
    }
    const { current, next, when } = scheduleAt(schedule, now);
    const parts = [];
    if (current.length) parts.push(`Now: ${current.map((p) => `${p.title} (ends in ${formatWait(p.ends_at - now)})`).join(', ')}.`);
    if (next) parts.push(`Next: ${next.title} in ${formatWait(next.starts_at - now)}.`);
    $('#phase-summary').textContent = parts.join(' ') || (schedule.phases.length ? 'The schedule is over.' : '');
    const range = (p) => `${formatTime(p.starts_at)} – ${formatTime(p.ends_at)}`;
    setChildren(
      list,
      ...(schedule.phases.length
        ? schedule.phases.map((p) => {
            const state = when(p);
            const label = state === 'now' ? 'Now' : p === next ? `Next, in ${formatWait(p.starts_at - now)}` : state === 'past' ? 'Done' : '';
            return h(
              'li',
              { class: `phase ${state}${p === next ? ' next' : ''}`, 'aria-current': state === 'now' ? 'time' : null },
              h('span', { class: 'phase-time', text: range(p) }),
              h('span', { class: 'phase-title', text: p.title }),
              label ? h('span', { class: 'phase-label' }, state === 'now' ? h('span', { 'aria-hidden': 'true', text: '▶ ' }) : null, label) : null,
            );
          })
        : [h('li', { class: 'empty', text: 'No schedule yet.' })]),
    );
    renderShow();
  };
  const renderShow = () => {
    const box = $('#show-now');
    const current = presentations && presentations.current;
    box.hidden = !current;
    if (!current) return;
    const left = remainingMs(presentations, client.serverNow());
    const ours = current.team === teamId;
    const warn = left <= presentations.warning_ms;
    box.className = `show-now${warn ? ' warn' : ''}${left < 0 ? ' over' : ''}`;
    const time = left < 0 ? `${formatClock(-left)} over time` : `${formatClock(left)} left`;
    setChildren(
      box,
      h('p', {}, 'Show and tell: ', h('strong', { text: ours ? 'your team is presenting' : `${teamName(current.team)} is presenting` }), ` · ${time}${current.paused_at ? ' (paused)' : ''}`),
      ours && warn ? h('p', { class: 'warn-text' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), left < 0 ? 'Time is up: please wrap up now.' : 'Nearly time: start wrapping up.') : null,
    );
  };
  renderers.schedule = renderSchedule;
  setInterval(() => {
    if (section === 'schedule' && document.visibilityState !== 'hidden') {
      if (presentations && presentations.current) renderShow();
      if (Math.floor(Date.now() / 1000) % 15 === 0) renderSchedule();
    }
  }, 1000);

  // ---------------------------------------------------------------- after a team change
  function onTeamChanged() {
    briefPick = null;
    reading = null;
    boardPick = null;
    if (editor) editor = null;
    renderBoardHead();
    showBoard();
    renderBrief();
    renderTeams();
    renderHelp();
  }

  // ---------------------------------------------------------------- state channels
  new StateChannel(client, 'roster', {
    onChange: (state) => {
      if (!state) return;
      roster = state;
      const mine = state.participants[me.id];
      if (mine && !mine.removed && (mine.team || null) !== teamId) teamMoved(mine.team);
      refreshLabels();
      renderTeams();
      renderBoardHead();
      if (section === 'board') showBoard();
      if (section === 'brief') renderBrief();
      renderHelp();
    },
  }).start();
  new StateChannel(client, 'briefs', {
    onChange: (state, detail) => {
      if (!state) return;
      briefs = state;
      const data = detail && detail.publication && detail.publication.data;
      if (data && data.type === 'forked' && data.team === teamId && forking && data.from.brief === forking) {
        forking = null;
        briefPick = data.brief.id;
        announce('Your team\'s working version is ready.');
      }
      if (editor) editor.update();
      renderBrief();
      renderTeams();
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
      renderSchedule();
    },
  }).start();
  new StateChannel(client, 'help', {
    onChange: (state) => {
      help = state;
      renderHelp();
    },
  }).start();

  // ---------------------------------------------------------------- client events
  const viewFor = (channel) => (channel === 'lobby' ? views.lobby : views.team && views.team.channel === channel ? views.team : null);

  client.on('ready', (hello) => {
    if (hello.event && hello.event.name) $('#event-name').textContent = hello.event.name;
    teamMoved(hello.team || null);
  });
  client.on('resync', (event) => {
    if (event.channel === 'announcements') {
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
      announcementsWanted = { offset: event.offset };
      loadAnnouncements();
      return;
    }
    const view = viewFor(event.channel);
    if (view) view.resync(event);
  });
  client.on('pub', (publication) => {
    if (publication.channel === 'announcements') {
      announcements.set(publication.offset, publication);
      freshOffset = publication.offset;
      renderAnnouncements();
      const speech = announcementSpeech(publication);
      if (speech) announce(speech.text, { urgent: speech.urgent });
      return;
    }
    const view = viewFor(publication.channel);
    if (view) view.add(publication);
  });
  client.on('unsubscribed', async ({ channel }) => {
    // The server ended our team room: we left the team or it was archived. Ask who we are now.
    if (!views.team || channel !== views.team.channel) return;
    try {
      const info = await tokenSource(session.refresh_token)();
      teamMoved(info.team || null);
    } catch {
      teamMoved(null);
    }
  });
  client.on('presence', ({ channel, members }) => {
    if (!views.team || channel !== views.team.channel) return;
    const names = members.map((member) => (member.id === me.id ? `${member.name} (you)` : member.name));
    teamHere.textContent = `Here now (${members.length}): ${names.join(', ')}`;
  });
  client.on('outbox', (entries) => {
    views.lobby.syncOutbox(entries);
    if (views.team) views.team.syncOutbox(entries);
    if (entries.some((e) => e.channel === 'announcements') || $('#announcement-latest button[disabled]')) renderAnnouncements();
    renderHelp();
    if (section === 'teams') renderTeams();
  });
  client.on('sent', ({ entry, offset }) => {
    const view = viewFor(entry.channel);
    if (view) view.markSent(entry.key, offset);
  });
  client.on('failed', ({ entry, error }) => {
    const view = viewFor(entry.channel);
    if (view) return view.markFailed(entry, error);
    if (entry.channel === 'help') $('#help-message').textContent = `Your request was not sent: ${error.message}.`;
    if (entry.channel === 'announcements') renderAnnouncements();
    if (entry.channel === 'roster') $('#teams-message').textContent = `That change was not made: ${error.message}.`;
  });
  client.on('status', ({ status }) => {
    if (status === Status.ONLINE) {
      views.lobby.loadWanted();
      if (views.team) views.team.loadWanted();
      loadAnnouncements();
      if (teamId && !teamOf(teamId) && !teamNames.has(teamId)) loadTeamNames();
    } else if (status === Status.SIGNED_OUT) {
      forgetSession('participant', eventId);
      const again = session.code ? `/join?code=${encodeURIComponent(session.code)}` : '/';
      showTerminal([
        h('h2', { text: 'Please join again' }),
        h('p', { text: 'Your sign-in for this event has expired or is no longer valid.' }),
        h('a', { class: 'button', href: again }, 'Join again'),
      ]);
    } else if (status === Status.REMOVED) {
      forgetSession('participant', eventId);
      showTerminal([
        h('h2', { text: 'You have left this event' }),
        h('p', { text: `You are no longer part of ${session.event.name}. If this is a mistake, talk to an organiser.` }),
      ]);
    }
  });

  // ---------------------------------------------------------------- sending
  $('#composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#message-input');
    const text = input.value.trim();
    if (!text) return;
    const channel = active === 'lobby' ? 'lobby' : teamId ? `team:${teamId}` : null;
    if (!channel) return;
    client.publish(channel, { text });
    input.value = '';
    input.focus();
  });

  subscribeAnnouncements(client);
  client.subscribe('lobby').catch(() => {});
  setTeam(teamId);
  views.lobby.syncOutbox(client.outbox);
  select(teamId ? 'team' : 'lobby');
  let firstSection = 'chat';
  try {
    firstSection = sessionStorage.getItem('makeroom:room-section') || 'chat';
  } catch {
    // first visit
  }
  selectSection(['chat', 'board', 'brief', 'teams', 'schedule'].includes(firstSection) ? firstSection : 'chat');
  renderHelp();
  loadTeamNames();
  client.connect();
  // For tests and the curious: the page's client.
  window.makeroom = client;
}

const session = currentSession('participant');
if (session) {
  start(session);
} else {
  showTerminal([
    h('h2', { text: 'Join an event first' }),
    h('p', { text: 'This device has not joined an event yet. Ask the organisers for the join code.' }),
    h('a', { class: 'button', href: '/' }, 'Enter a join code'),
  ]);
}
