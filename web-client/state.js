// state.js: the event's state channels (PROTOCOL.md section 8), folded in the browser exactly as the
// server folds them, and kept up to date from a Makeroom client. No DOM here, so node tests it too.
//
// Every state channel is a log of events. A page takes the channel's snapshot, then applies each
// event (`pub`) in offset order with `applyEvent(channel, state, publication)`. Applying is
// deterministic and depends only on the state, the event and the record's `offset`, `ts` and
// `from.id`, so every screen that applies the same events holds the server's state.

import { t } from './i18n.js';

/** The channels' initial states (PROTOCOL.md "Loading and following state"). */
export function initialState(channel) {
  const kind = channelKind(channel);
  switch (kind) {
    case 'roster':
      return { event: { name: '', starts_at: null, ends_at: null }, participants: {}, teams: {} };
    case 'announcements':
      return { announcements: [] };
    case 'briefs':
      return { briefs: {} };
    case 'board':
      return {
        team: channel.slice('board:'.length),
        columns: [
          { id: 'todo', title: 'To do', cards: [] },
          { id: 'doing', title: 'Doing', cards: [] },
          { id: 'done', title: 'Done', cards: [] },
        ],
      };
    case 'schedule':
      return { phases: [] };
    case 'presentations':
      return { order: [], slot_ms: 300000, warning_ms: 60000, current: null, finished: false };
    case 'help':
      return { requests: [] };
    case 'outputs':
      return { outputs: {}, photos: {} };
    default:
      return {};
  }
}

/** `board:t_…` → `board`; other names as they are. */
export function channelKind(channel) {
  return channel.startsWith('board:') ? 'board' : channel;
}

/** A deep copy of plain JSON state (structuredClone is too new for older phones). */
export function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** Applies one recorded event (a publication: {offset, ts, from, data}) to `state`, in place. */
export function applyEvent(channel, state, publication) {
  const apply = APPLY[channelKind(channel)];
  if (apply) apply(state, publication.data || {}, publication);
  return state;
}

// ------------------------------------------------------------------ roster

const asciiLower = (text) => String(text).replace(/[A-Z]/g, (c) => c.toLowerCase());
const byId = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** Recomputes every team's derived `members` and `missing` (PROTOCOL.md `roster`). */
export function deriveTeams(state) {
  const members = new Map();
  for (const person of Object.values(state.participants)) {
    if (person.removed || !person.team) continue;
    if (!members.has(person.team)) members.set(person.team, []);
    members.get(person.team).push(person.id);
  }
  for (const team of Object.values(state.teams)) {
    team.members = (members.get(team.id) || []).sort(byId);
    const have = new Set();
    for (const id of team.members) for (const skill of state.participants[id].skills || []) have.add(asciiLower(skill));
    team.missing = (team.needs || []).filter((need) => !have.has(asciiLower(need)));
  }
  return state;
}

function applyRoster(state, data) {
  const person = typeof data.participant === 'string' ? state.participants[data.participant] : null;
  const team = typeof data.team === 'string' ? state.teams[data.team] : null;
  switch (data.type) {
    case 'event_updated':
      state.event = { ...data.details };
      break;
    case 'team_created':
      state.teams[data.team.id] = { ...data.team, archived: false, members: [], missing: [] };
      break;
    case 'team_renamed':
      if (team) team.name = data.name;
      break;
    case 'team_needs':
      if (team) team.needs = data.needs;
      break;
    case 'team_archived':
      if (team) team.archived = true;
      for (const p of Object.values(state.participants)) if (p.team === data.team) p.team = null;
      break;
    case 'joined':
      state.participants[data.participant.id] = { ...data.participant };
      break;
    case 'moved':
      if (person) person.team = data.team || null;
      break;
    case 'skills_changed':
      if (person) person.skills = data.skills;
      break;
    case 'removed':
      if (person) {
        person.removed = true;
        person.team = null;
      }
      break;
    default:
      return;
  }
  deriveTeams(state);
}

// ------------------------------------------------------------------ briefs

function applyBriefs(state, data, record) {
  const entry = (revision) => ({ revision, offset: record.offset, ts: record.ts, by: record.from ? record.from.id : null });
  switch (data.type) {
    case 'created':
    case 'forked': {
      const b = data.brief;
      state.briefs[b.id] = {
        id: b.id,
        title: b.title,
        title_cy: b.title_cy || null,
        body: b.body,
        partner: b.partner,
        owner: b.owner === undefined ? null : b.owner,
        revision: 1,
        team: data.type === 'forked' ? data.team : null,
        forked_from: data.type === 'forked' ? { ...data.from } : null,
        history: [entry(1)],
      };
      break;
    }
    case 'edited': {
      const brief = state.briefs[data.brief];
      if (!brief) return;
      brief.revision = data.revision;
      brief.title = data.title;
      brief.title_cy = data.title_cy || null;
      brief.body = data.body;
      brief.owner = data.owner === undefined ? null : data.owner;
      brief.history.push(entry(data.revision));
      break;
    }
    default:
  }
}

/** The title and body of a `briefs` record (one revision's whole text), or null. */
export function revisionText(publication) {
  const data = (publication && publication.data) || {};
  if (data.type === 'created' || data.type === 'forked') return { title: data.brief.title, title_cy: data.brief.title_cy || null, body: data.brief.body };
  if (data.type === 'edited') return { title: data.title, title_cy: data.title_cy || null, body: data.body };
  return null;
}

/** Briefs in id order; originals and working versions alike. */
export function briefList(state) {
  return Object.keys(state.briefs)
    .sort(byId)
    .map((id) => state.briefs[id]);
}

/** The team's working version of the original brief `briefId`, or null. */
export function workingVersion(state, teamId, briefId) {
  return briefList(state).find((b) => b.team === teamId && b.forked_from && b.forked_from.brief === briefId) || null;
}

// ------------------------------------------------------------------ boards

function findCard(state, cardId) {
  for (const column of state.columns) {
    const index = column.cards.findIndex((card) => card.id === cardId);
    if (index >= 0) return { column, index };
  }
  return null;
}

function applyBoard(state, data) {
  const column = (id) => state.columns.find((c) => c.id === id);
  switch (data.type) {
    case 'column_added':
      state.columns.push({ id: data.column, title: data.title, cards: [] });
      break;
    case 'column_renamed': {
      const c = column(data.column);
      if (c) c.title = data.title;
      break;
    }
    case 'column_moved': {
      const at = state.columns.findIndex((c) => c.id === data.column);
      if (at < 0) break;
      const [moved] = state.columns.splice(at, 1);
      state.columns.splice(Math.min(data.index, state.columns.length), 0, moved);
      break;
    }
    case 'column_deleted': {
      const at = state.columns.findIndex((c) => c.id === data.column);
      if (at >= 0) state.columns.splice(at, 1);
      break;
    }
    case 'card_added': {
      const c = column(data.column);
      if (c) c.cards.splice(Math.min(data.index, c.cards.length), 0, { ...data.card });
      break;
    }
    case 'card_edited': {
      const found = findCard(state, data.card.id);
      if (found) found.column.cards[found.index] = { ...data.card };
      break;
    }
    case 'card_moved': {
      const target = column(data.column);
      if (!target) break;
      const found = findCard(state, data.card);
      if (!found) break;
      const [card] = found.column.cards.splice(found.index, 1);
      target.cards.splice(Math.min(data.index, target.cards.length), 0, card);
      break;
    }
    case 'card_deleted': {
      const found = findCard(state, data.card);
      if (found) found.column.cards.splice(found.index, 1);
      break;
    }
    default:
  }
}

/**
 * What a board command will record, as far as this screen can tell (for showing a change while it
 * waits to be sent). Returns an event, or null when the command would change nothing here.
 * `card.add` gets a stand-in id (`pending:KEY`) until its real event arrives.
 */
export function expectedBoardEvent(state, command, key) {
  switch (command.type) {
    case 'card.add': {
      const column = command.column ? state.columns.find((c) => c.id === command.column) : state.columns[0];
      if (!column) return null;
      return {
        type: 'card_added',
        column: column.id,
        index: column.cards.length,
        card: { id: `pending:${key}`, title: command.title, notes: command.notes || '', assignee: command.assignee || null },
      };
    }
    case 'card.edit': {
      const found = findCard(state, command.card);
      if (!found) return null;
      const card = { ...found.column.cards[found.index] };
      if (command.title !== undefined && command.title !== null) card.title = command.title;
      if (command.notes !== undefined && command.notes !== null) card.notes = command.notes;
      if (command.assignee !== undefined) card.assignee = command.assignee;
      return { type: 'card_edited', card };
    }
    case 'card.move':
      return { type: 'card_moved', card: command.card, column: command.column, index: command.index };
    case 'card.delete':
      return { type: 'card_deleted', card: command.card };
    case 'column.add':
      return { type: 'column_added', column: `pending:${key}`, title: command.title };
    case 'column.rename':
      return { type: 'column_renamed', column: command.column, title: command.title };
    case 'column.move':
      return { type: 'column_moved', column: command.column, index: command.index };
    case 'column.delete':
      return { type: 'column_deleted', column: command.column };
    default:
      return null;
  }
}

// ------------------------------------------------------------------ announcements

function applyAnnouncements(state, data, record) {
  const find = (id) => state.announcements.find((a) => a.id === id);
  switch (data.type) {
    case 'posted':
      state.announcements.push({
        id: data.id,
        text: data.text,
        text_cy: data.text_cy || null,
        priority: data.priority,
        pinned: Boolean(data.pinned),
        at: record.ts,
        by: record.from ? record.from.id : null,
        acknowledged_by: [],
        edited: null,
        retracted: null,
      });
      break;
    case 'edited': {
      const a = find(data.id);
      if (!a) break;
      Object.assign(a, { text: data.text, text_cy: data.text_cy || null, priority: data.priority, pinned: Boolean(data.pinned) });
      if (data.clears_acknowledgements) a.acknowledged_by = [];
      a.edited = { at: record.ts, by: record.from ? record.from.id : null };
      break;
    }
    case 'retracted': {
      const a = find(data.id);
      if (a) a.retracted = { at: record.ts, by: record.from ? record.from.id : null };
      break;
    }
    case 'pinned':
    case 'unpinned': {
      const a = find(data.id);
      if (a) a.pinned = data.type === 'pinned';
      break;
    }
    case 'acknowledged': {
      const a = find(data.id);
      if (a) a.acknowledged_by.push(data.participant);
      break;
    }
    default:
  }
}

// ------------------------------------------------------------------ schedule

function sortPhases(phases) {
  phases.sort((a, b) => a.starts_at - b.starts_at || byId(a.id, b.id));
}

function applySchedule(state, data) {
  if (data.type === 'phase_set') {
    state.phases = state.phases.filter((p) => p.id !== data.phase.id);
    state.phases.push({ ...data.phase });
    sortPhases(state.phases);
  } else if (data.type === 'phase_deleted') {
    state.phases = state.phases.filter((p) => p.id !== data.phase);
  }
}

/**
 * Where the schedule stands at `now` (server time): the phases running now (they may overlap), the
 * next one to start, and each phase's `when`: "past", "now" or "future".
 */
export function scheduleAt(state, now) {
  const current = state.phases.filter((p) => p.starts_at <= now && now < p.ends_at);
  const next = state.phases.find((p) => p.starts_at > now) || null;
  const when = (p) => (p.ends_at <= now ? 'past' : p.starts_at <= now ? 'now' : 'future');
  return { current, next, when };
}

// ------------------------------------------------------------------ presentations

function applyPresentations(state, data, record) {
  const current = state.current;
  switch (data.type) {
    case 'order_set':
      state.order = data.teams.slice();
      if (current) {
        const index = state.order.indexOf(current.team);
        if (index < 0) state.current = null;
        else current.index = index;
      }
      break;
    case 'slot_set':
      state.slot_ms = data.slot_ms;
      state.warning_ms = data.warning_ms;
      break;
    case 'started':
      if (data.index >= 0 && data.index < state.order.length) {
        state.current = { index: data.index, team: state.order[data.index], started_at: record.ts, paused_at: null, paused_ms: 0, extended_ms: 0 };
        state.finished = false;
      }
      break;
    case 'paused':
      if (current) current.paused_at = record.ts;
      break;
    case 'resumed':
      if (current && current.paused_at !== null && current.paused_at !== undefined) {
        current.paused_ms += record.ts - current.paused_at;
        current.paused_at = null;
      }
      break;
    case 'extended':
      if (current) current.extended_ms += data.ms;
      break;
    case 'finished':
      state.current = null;
      state.finished = true;
      break;
    default:
  }
}

/**
 * The presenting team's time left at server time `now`, in ms (negative when over time), or null
 * when nobody presents. PROTOCOL.md: the server's `Presentations::remaining_ms(now)`.
 */
export function remainingMs(state, now) {
  const current = state && state.current;
  if (!current) return null;
  const clock = current.paused_at !== null && current.paused_at !== undefined ? current.paused_at : now;
  const elapsed = clock - current.started_at - current.paused_ms;
  return state.slot_ms + current.extended_ms - elapsed;
}

/** The team after the presenting one (or the first, before the show), or null. */
export function nextPresenter(state) {
  if (!state) return null;
  if (state.current) return state.order[state.current.index + 1] || null;
  return state.order[0] || null;
}

// ------------------------------------------------------------------ help and outputs

function applyHelp(state, data, record) {
  const request = state.requests.find((r) => r.id === data.id);
  switch (data.type) {
    case 'asked':
      state.requests.push({
        id: data.id,
        team: data.team,
        topic: data.topic,
        location: data.location || '',
        status: 'open',
        asked_by: record.from ? record.from.id : null,
        asked_at: record.ts,
        claimed_by: null,
        claimed_at: null,
        closed_at: null,
      });
      break;
    case 'claimed':
      if (request) Object.assign(request, { status: 'claimed', claimed_by: data.by, claimed_at: record.ts });
      break;
    case 'released':
      if (request) Object.assign(request, { status: 'open', claimed_by: null, claimed_at: null });
      break;
    case 'resolved':
    case 'cancelled':
      if (request) Object.assign(request, { status: data.type, closed_at: record.ts });
      break;
    default:
  }
}

/** Open or claimed: a request that still needs someone. */
export const isOpenRequest = (request) => request.status === 'open' || request.status === 'claimed';

function applyOutputs(state, data, record) {
  const by = record.from ? record.from.id : null;
  if (data.type === 'saved') state.outputs[data.output.team] = { ...data.output, updated_at: record.ts, updated_by: by };
  else if (data.type === 'photo_added') {
    const { id, ...photo } = data.photo;
    if (!state.photos) state.photos = {};
    state.photos[id] = { ...photo, added_at: record.ts, added_by: by };
  }
}

const APPLY = {
  roster: applyRoster,
  briefs: applyBriefs,
  board: applyBoard,
  announcements: applyAnnouncements,
  schedule: applySchedule,
  presentations: applyPresentations,
  help: applyHelp,
  outputs: applyOutputs,
};

// ------------------------------------------------------------------ following a channel live

/**
 * Follows one state channel on a Makeroom client: subscribes with `snapshot: true`, takes the
 * snapshot, applies every event after it in offset order, and calls `onChange(state, detail)` after
 * each change. `state` is null until the first snapshot. `stop()` unsubscribes.
 *
 * A resync without a snapshot (a `gap`, which the server's own gap filling makes unexpected) starts
 * over with a fresh subscription, so the state is never built on a hole.
 */
export class StateChannel {
  constructor(client, channel, { onChange } = {}) {
    this.client = client;
    this.channel = channel;
    this.state = null;
    this.offset = null;
    this.onChange = onChange || (() => {});
    this.offs = [];
    this.stopped = true;
  }

  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    this.offs.push(
      this.client.on('resync', (event) => {
        if (event.channel !== this.channel) return;
        if (event.snapshot) {
          this.state = clone(event.snapshot);
          if (channelKind(this.channel) === 'roster') deriveTeams(this.state);
          this.offset = event.offset;
          this.onChange(this.state, { reason: event.reason });
        } else {
          this.restart();
        }
      }),
      this.client.on('pub', (publication) => {
        if (publication.channel !== this.channel || !this.state) return;
        applyEvent(this.channel, this.state, publication);
        this.offset = publication.offset;
        this.onChange(this.state, { publication });
      }),
    );
    this.subscribe();
    return this;
  }

  subscribe() {
    this.client.subscribe(this.channel, { snapshot: true }).catch((err) => {
      if (err && err.code !== 'closed') this.onChange(this.state, { error: err });
    });
  }

  restart() {
    this.client.unsubscribe(this.channel);
    this.subscribe();
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    for (const off of this.offs.splice(0)) off();
    this.client.unsubscribe(this.channel);
  }
}

// ------------------------------------------------------------------ times

/** "4:05", "-0:12", "1:02:03": a duration in ms as a clock, rounded up to whole seconds. */
export function formatClock(ms) {
  const negative = ms < 0;
  // Counting down, a screen shows 0:01 until the very end and 0:00 only when time is up.
  const total = negative ? Math.floor(-ms / 1000) : Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const mmss = hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}` : `${minutes}:${String(seconds).padStart(2, '0')}`;
  return negative ? `-${mmss}` : mmss;
}

/** "3 h 20 min", "12 min", "less than a minute" ("3 awr 20 mun", ...): a duration in words, for longer waits. */
export function formatWait(ms) {
  if (ms < 60000) return t('wait.underAMinute');
  const minutes = Math.round(ms / 60000);
  if (minutes < 60) return t('wait.minutes', { count: minutes });
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours >= 48) return t('wait.days', { count: Math.round(hours / 24) });
  return rest ? t('wait.hoursMinutes', { hours, minutes: rest }) : t('wait.hours', { count: hours });
}
