// room/chat.js: the room's Chat section: the team's chat and the lobby as two tabs, with who is
// here, unread counts and the composer. A message written offline shows as "Sending…" until it is
// stored. The team chat follows this person's team: a move is told here first (`teamMoved`), and
// `onTeamChanged` tells the other sections.

import { Status, api, tokenSource } from '../makeroom.js';
import { $, formatTime, h, HistoryReload, saveSession } from '../ui.js';
import { errorText, onLanguageChange, t } from '../i18n.js';

const PAGE = 50; // messages per history request
const KEEP = 500; // messages kept per chat before the oldest are let go
const SAVE = 50; // messages per chat kept on the phone for opening with no network (room/saved.js)

/** One chat channel's messages: stored ones by offset, then this person's not yet stored ones. */
class ChatView {
  constructor({ client, channel, panel, title, meId, onUnread, onLoaded = () => {} }) {
    this.client = client;
    this.channel = channel;
    this.meId = meId;
    this.onUnread = onUnread;
    this.onLoaded = onLoaded;
    this.restored = null; // offsets shown from the saved room, until the live history replaces them
    this.loadedLive = false;
    this.messages = new Map(); // offset -> publication
    this.nodes = new Map(); // offset -> <li>
    this.pending = new Map(); // key -> {entry, state: 'sending'|'stored'|'failed', offset, error, node}
    this.first = null; // the oldest offset history holds
    this.reload = new HistoryReload(client, channel, { limit: PAGE }); // history a resync asked for
    this.unread = 0;
    this.active = false;
    this.panel = panel;
    this.earlier = h('button', { type: 'button', class: 'secondary earlier', hidden: true, onclick: () => this.loadEarlier() }, t('chat.earlier'));
    this.empty = h('p', { class: 'empty', text: t('chat.empty') });
    // The list becomes a live log once its backlog is loaded, so that the backlog is not read out.
    this.list = h('ol', { class: 'messages', 'aria-label': t('chat.messagesOf', { title }) });
    this.title = title;
    panel.append(this.earlier, this.empty, this.list);
  }

  setTitle(title) {
    this.title = title;
    this.list.setAttribute('aria-label', t('chat.messagesOf', { title }));
  }

  /** Says everything again in the page's new language: the messages' labels and times too. */
  relabel() {
    this.earlier.textContent = t('chat.earlier');
    this.empty.textContent = t('chat.empty');
    this.setTitle(this.title);
    this.nodes.clear();
    for (const item of this.pending.values()) item.node = null;
    this.render();
  }

  /** The channel must be reloaded from history up to `offset` (null: the newest). */
  resync({ offset, reason }) {
    if (reason !== 'initial' && reason !== 'gap') {
      this.messages.clear();
      this.nodes.clear();
      this.restored = null;
    }
    this.reload.ask(offset);
    this.loadWanted();
  }

  /** Loads the history a resync asked for; again when the connection is back, if it failed. */
  async loadWanted() {
    const result = await this.reload.load();
    if (!result) return;
    this.first = result.first;
    for (const publication of result.publications) this.messages.set(publication.offset, publication);
    if (this.restored) {
      // Saved messages the live history does not hold now are let go: no hole is left before the
      // history's oldest, and an event whose log started over shows nothing of the old one.
      const live = new Set(result.publications.map((publication) => publication.offset));
      for (const offset of this.restored) {
        if (live.has(offset)) continue;
        this.messages.delete(offset);
        this.nodes.delete(offset);
      }
      this.restored = null;
    }
    this.loadedLive = true;
    this.render({ toBottom: true });
    this.onLoaded();
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

  /** Shows the messages saved on this phone (room/saved.js) until the live history comes. */
  restore(publications) {
    if (this.loadedLive || !Array.isArray(publications)) return;
    this.restored = new Set();
    for (const publication of publications) {
      if (this.messages.has(publication.offset)) continue;
      this.messages.set(publication.offset, publication);
      this.restored.add(publication.offset);
    }
    this.render({ toBottom: true });
  }

  /** The newest messages, to keep on the phone; null until the live history is loaded. */
  live() {
    if (!this.loadedLive) return null;
    const offsets = [...this.messages.keys()].sort((a, b) => a - b).slice(-SAVE);
    return offsets.map((offset) => this.messages.get(offset));
  }

  add(publication) {
    if (this.restored) this.restored.delete(publication.offset);
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
        h('span', { class: 'who', text: mine ? t('chat.you') : publication.from.name }),
        publication.from.role !== 'participant' ? h('span', { class: 'role', text: t(`role.${publication.from.role}`) }) : null,
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
          `${t('chat.notSent')} ${errorText(item.error)} `,
          h('button', { type: 'button', class: 'link', onclick: () => this.dismiss(key) }, t('chat.dismiss')),
        )
      : h('p', { class: 'state', text: item.state === 'stored' ? t('chat.sent') : t('chat.sending') });
    item.node = h(
      'li',
      { class: failed ? 'msg mine failed' : 'msg mine pending', 'data-key': key },
      h('p', { class: 'meta' }, h('span', { class: 'who', text: t('chat.you') })),
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
    this.empty.hidden = wanted.length > 0 || this.reload.pending;
    this.earlier.hidden = !(this.first !== null && oldest !== null && oldest > Math.max(this.first, 1));
    if (toBottom || nearBottom) panel.scrollTop = panel.scrollHeight;
  }
}

/**
 * Sets up the Chat section. Returns `teamMoved(team)`, `refreshLabels()`, `sectionShown(name)` (a
 * section was selected) and `start()` (subscribes; call once the other sections are set up).
 */
export function chatSection(room, { onTeamChanged }) {
  const { client, me, session } = room;
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
  const noTeam = h('p', { class: 'empty' }, t('chat.noTeam'));
  panels.team.append(teamHere, noTeam);
  let active = 'team'; // the chat shown: team or lobby
  let here = null; // who is in the team room now, from presence
  const showHere = () => {
    if (!here) return;
    const names = here.map((member) => (member.id === me.id ? t('chat.meHere', { name: member.name }) : member.name));
    teamHere.textContent = t('chat.here', { count: here.length, names: names.join(', ') });
  };
  const showChatBadge = () => {
    const total = room.section === 'chat' ? 0 : unreadCounts.team + unreadCounts.lobby;
    $('#badge-chat').textContent = total > 0 ? t('chat.new', { count: total }) : '';
  };
  const loadedListeners = [];
  const loaded = () => loadedListeners.forEach((listener) => listener());
  const unread = (name) => (count) => {
    unreadCounts[name] = count;
    badges[name].textContent = count > 0 ? t('chat.new', { count }) : '';
    showChatBadge();
  };
  const views = {
    lobby: new ChatView({ client, channel: 'lobby', panel: panels.lobby, title: t('chat.lobby'), meId: me.id, onUnread: unread('lobby'), onLoaded: () => loaded() }),
    team: null,
  };
  const refreshLabels = () => {
    const teamName = room.teamName();
    $('#who').textContent = `${me.name} · ${teamName || t('chat.noTeamYet')}`;
    $('#tab-team-name').textContent = teamName || t('chat.team');
    if (views.team) views.team.setTitle(teamName);
    const label = active === 'lobby' ? t('chat.toLobby') : t('chat.toTeam', { team: teamName });
    $('#message-label').textContent = label;
    $('#message-input').placeholder = active === 'lobby' ? t('chat.placeholderLobby') : t('chat.placeholderTeam', { team: teamName });
    noTeam.hidden = Boolean(room.teamId);
    teamHere.hidden = !room.teamId;
  };

  const select = (name, { focus = false } = {}) => {
    active = name;
    for (const [key, tab] of Object.entries(tabs)) {
      const on = key === name;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      panels[key].hidden = !on;
      if (views[key]) views[key].activate(on && room.section === 'chat');
    }
    if (focus) tabs[name].focus();
    $('#message-input').disabled = name === 'team' && !room.teamId;
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

  /** A section was selected: the chat shown counts as read only while Chat is open. */
  const sectionShown = (name) => {
    if (views[active]) views[active].activate(name === 'chat');
    for (const key of ['team', 'lobby']) if (key !== active && views[key]) views[key].activate(false);
    showChatBadge();
  };

  const setTeam = (newTeam) => {
    newTeam = newTeam || null;
    const changed = newTeam !== room.teamId;
    if (views.team && views.team.channel === `team:${newTeam}`) return;
    if (views.team) {
      client.unsubscribe(views.team.channel);
      views.team.list.remove();
      views.team.earlier.remove();
      views.team.empty.remove();
      views.team = null;
      unread('team')(0);
    }
    room.teamId = newTeam;
    if (room.teamId) {
      views.team = new ChatView({ client, channel: `team:${room.teamId}`, panel: panels.team, title: room.teamName(), meId: me.id, onUnread: unread('team'), onLoaded: () => loaded() });
      views.team.activate(active === 'team' && room.section === 'chat');
      views.team.syncOutbox(client.outbox);
      client.subscribe(`team:${room.teamId}`, { presence: true }).catch(() => {});
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
      if (newTeam && !room.teamOf(newTeam) && !room.teamNames.has(newTeam)) loadTeamNames();
      if (!newTeam && active === 'team') select('lobby');
    }
  };

  const loadTeamNames = async () => {
    if (!session.code) return;
    try {
      const info = await api(`/api/join/${encodeURIComponent(session.code)}`);
      room.teamNames = new Map(info.teams.map((team) => [team.id, team.name]));
      refreshLabels();
    } catch {
      // names stay generic until the roster arrives
    }
  };

  // ---------------------------------------------------------------- client events
  const viewFor = (channel) => (channel === 'lobby' ? views.lobby : views.team && views.team.channel === channel ? views.team : null);

  client.on('ready', (hello) => teamMoved(hello.team || null));
  client.on('resync', (event) => {
    const view = viewFor(event.channel);
    if (view) view.resync(event);
  });
  client.on('pub', (publication) => {
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
    here = members;
    showHere();
  });
  client.on('outbox', (entries) => {
    views.lobby.syncOutbox(entries);
    if (views.team) views.team.syncOutbox(entries);
  });
  client.on('sent', ({ entry, offset }) => {
    const view = viewFor(entry.channel);
    if (view) view.markSent(entry.key, offset);
  });
  client.on('failed', ({ entry, error }) => {
    const view = viewFor(entry.channel);
    if (view) view.markFailed(entry, error);
  });
  client.on('status', ({ status }) => {
    if (status !== Status.ONLINE) return;
    views.lobby.loadWanted();
    if (views.team) views.team.loadWanted();
    if (room.teamId && !room.teamOf(room.teamId) && !room.teamNames.has(room.teamId)) loadTeamNames();
  });

  // ---------------------------------------------------------------- sending
  $('#composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#message-input');
    const text = input.value.trim();
    if (!text) return;
    const channel = active === 'lobby' ? 'lobby' : room.teamId ? `team:${room.teamId}` : null;
    if (!channel) return;
    client.publish(channel, { text });
    input.value = '';
    input.focus();
  });

  const start = () => {
    client.subscribe('lobby').catch(() => {});
    setTeam(room.teamId);
    views.lobby.syncOutbox(client.outbox);
    select(room.teamId ? 'team' : 'lobby');
  };

  /** The chats saved on this phone ({channel: publications}), shown until the live ones come. */
  const restore = (chats) => {
    for (const view of [views.lobby, views.team]) if (view && chats[view.channel]) view.restore(chats[view.channel]);
  };
  /** The chats to keep on the phone: only those loaded live. */
  const live = () => {
    const chats = {};
    for (const view of [views.lobby, views.team]) {
      const messages = view && view.live();
      if (messages) chats[view.channel] = messages;
    }
    return Object.keys(chats).length ? chats : null;
  };
  const onLoaded = (listener) => loadedListeners.push(listener);
  onLanguageChange(() => {
    noTeam.textContent = t('chat.noTeam');
    views.lobby.title = t('chat.lobby');
    for (const view of [views.lobby, views.team]) if (view) view.relabel();
    for (const name of ['team', 'lobby']) unread(name)(unreadCounts[name]);
    showHere();
    refreshLabels();
  });
  return { teamMoved, refreshLabels, sectionShown, loadTeamNames, start, restore, live, onLoaded };
}
