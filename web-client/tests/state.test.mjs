// state.js, announcements.js's fold and skills.js alone, in node (no browser, well under a second):
// each channel's events folded exactly as PROTOCOL.md section 8 says, the presentations timer, and
// how a person's skills are matched with what a team misses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyEvent,
  expectedBoardEvent,
  formatClock,
  formatWait,
  initialState,
  nextPresenter,
  remainingMs,
  scheduleAt,
  workingVersion,
} from '../state.js';
import { foldAnnouncements } from '../announcements.js';
import { neededSkills, skillMatches, stem } from '../skills.js';

let offset = 0;
/** A record as the server sends it: the event, with an offset, a time and a sender. */
const rec = (data, { ts = 1000, from = 'o_1' } = {}) => ({ offset: ++offset, ts, from: { id: from }, data });
const fold = (channel, events, state = initialState(channel)) => {
  for (const event of events) applyEvent(channel, state, event.data ? event : rec(event));
  return state;
};
const titles = (board) => board.columns.map((c) => [c.id, c.cards.map((card) => card.id)]);
const card = (id) => ({ id, title: id, notes: '', assignee: null });

test('boards: the default columns, and every event applied as PROTOCOL.md says', () => {
  const board = fold('board:t_1', [
    { type: 'card_added', column: 'todo', index: 0, card: card('a') },
    { type: 'card_added', column: 'todo', index: 9, card: card('b') }, // past the end: clamped
    { type: 'card_added', column: 'nope', index: 0, card: card('x') }, // a missing column adds nothing
    { type: 'column_added', column: 'col_1', title: 'Blocked' },
    { type: 'card_moved', card: 'a', column: 'done', index: 5 },
    { type: 'card_moved', card: 'b', column: 'nope', index: 0 }, // no such column: nothing
    { type: 'card_moved', card: 'zz', column: 'done', index: 0 }, // no such card: nothing
    { type: 'column_moved', column: 'col_1', index: 99 }, // clamped to the end, after removal
    { type: 'column_moved', column: 'col_1', index: 1 },
    { type: 'card_edited', card: { id: 'b', title: 'B!', notes: 'n', assignee: 'p_1' } },
    { type: 'column_renamed', column: 'done', title: 'Shipped' },
  ]);
  assert.deepEqual(titles(board), [
    ['todo', ['b']],
    ['col_1', []],
    ['doing', []],
    ['done', ['a']],
  ]);
  assert.deepEqual(board.columns[0].cards[0], { id: 'b', title: 'B!', notes: 'n', assignee: 'p_1' });
  assert.equal(board.columns[3].title, 'Shipped');
  // Reordering within a column: index counted without the moved card.
  fold('board:t_1', [{ type: 'card_added', column: 'todo', index: 1, card: card('c') }, { type: 'card_moved', card: 'b', column: 'todo', index: 1 }], board);
  assert.deepEqual(board.columns[0].cards.map((c) => c.id), ['c', 'b']);
  fold('board:t_1', [{ type: 'card_deleted', card: 'c' }, { type: 'column_deleted', column: 'col_1' }], board);
  assert.deepEqual(titles(board), [
    ['todo', ['b']],
    ['doing', []],
    ['done', ['a']],
  ]);
});

test('boards: a waiting command shows as the event it will record', () => {
  const board = fold('board:t_1', [{ type: 'card_added', column: 'todo', index: 0, card: card('a') }]);
  assert.deepEqual(expectedBoardEvent(board, { type: 'card.move', card: 'a', column: 'done', index: 0 }, 'k'), { type: 'card_moved', card: 'a', column: 'done', index: 0 });
  assert.deepEqual(expectedBoardEvent(board, { type: 'card.add', title: 'New' }, 'k1').card, { id: 'pending:k1', title: 'New', notes: '', assignee: null });
  assert.equal(expectedBoardEvent(board, { type: 'card.edit', card: 'zz', title: 'x' }, 'k'), null);
  assert.deepEqual(expectedBoardEvent(board, { type: 'card.edit', card: 'a', assignee: null, notes: 'n' }, 'k').card, { id: 'a', title: 'a', notes: 'n', assignee: null });
});

test('presentations: the timer from server times, as in PROTOCOL.md', () => {
  const state = fold('presentations', [
    rec({ type: 'order_set', teams: ['t_b', 't_a', 't_c'] }),
    rec({ type: 'started', index: 1 }, { ts: 1764075612000 }),
    rec({ type: 'paused' }, { ts: 1764075792000 }),
    rec({ type: 'resumed' }, { ts: 1764075837000 }),
    rec({ type: 'extended', ms: 60000 }),
  ]);
  assert.deepEqual(state.current, { index: 1, team: 't_a', started_at: 1764075612000, paused_at: null, paused_ms: 45000, extended_ms: 60000 });
  assert.equal(remainingMs(state, 1764075957000), 60000);
  assert.equal(nextPresenter(state), 't_c');
  // Paused, the time stands still whatever "now" is.
  fold('presentations', [rec({ type: 'paused' }, { ts: 1764075900000 })], state);
  assert.equal(remainingMs(state, 1764075900000), remainingMs(state, 1764079999999));
  // A reorder keeps the presenting team and its clock; dropping it from the order ends its turn.
  fold('presentations', [rec({ type: 'order_set', teams: ['t_a', 't_b'] })], state);
  assert.equal(state.current.index, 0);
  fold('presentations', [rec({ type: 'order_set', teams: ['t_b'] })], state);
  assert.equal(state.current, null);
  assert.equal(remainingMs(state, 0), null);
  fold('presentations', [rec({ type: 'started', index: 7 }), rec({ type: 'finished' })], state);
  assert.equal(state.finished, true);
});

test('roster: members and missing skills are derived, ignoring ASCII case', () => {
  const roster = fold('roster', [
    { type: 'team_created', team: { id: 't_1', name: 'Wales', brief: null, needs: ['Welsh', 'Facilitation'] } },
    { type: 'joined', participant: { id: 'p_2', name: 'Bo', role: 'participant', skills: ['welsh'], team: 't_1', removed: false } },
    { type: 'joined', participant: { id: 'p_1', name: 'Al', role: 'participant', skills: [], team: null, removed: false } },
  ]);
  assert.deepEqual(roster.teams.t_1.members, ['p_2']);
  assert.deepEqual(roster.teams.t_1.missing, ['Facilitation']);
  fold('roster', [{ type: 'moved', participant: 'p_1', team: 't_1' }, { type: 'skills_changed', participant: 'p_1', skills: ['FACILITATION'] }], roster);
  assert.deepEqual(roster.teams.t_1.members, ['p_1', 'p_2']);
  assert.deepEqual(roster.teams.t_1.missing, []);
  fold('roster', [{ type: 'removed', participant: 'p_2' }, { type: 'team_archived', team: 't_1' }], roster);
  assert.equal(roster.participants.p_1.team, null);
  assert.deepEqual(roster.teams.t_1.members, []);
  assert.equal(roster.teams.t_1.archived, true);
});

test('briefs: revisions, history entries from the record, working versions', () => {
  const briefs = fold('briefs', [
    rec({ type: 'created', brief: { id: 'b_1', title: 'T', body: 'one', partner: 'P', owner: null } }, { ts: 10, from: 'system' }),
    rec({ type: 'edited', brief: 'b_1', revision: 2, title: 'T', body: 'two', owner: null }, { ts: 20, from: 'o_1' }),
    rec({ type: 'forked', brief: { id: 'b_2', title: 'T', body: 'two', partner: 'P', owner: null }, from: { brief: 'b_1', revision: 2 }, team: 't_1' }, { ts: 30, from: 'p_1' }),
    rec({ type: 'edited', brief: 'b_9', revision: 2, title: 'x', body: 'x', owner: null }),
  ]);
  assert.equal(briefs.briefs.b_1.revision, 2);
  assert.deepEqual(
    briefs.briefs.b_1.history.map((h) => [h.revision, h.ts, h.by]),
    [
      [1, 10, 'system'],
      [2, 20, 'o_1'],
    ],
  );
  assert.equal(workingVersion(briefs, 't_1', 'b_1').id, 'b_2');
  assert.deepEqual(briefs.briefs.b_2.forked_from, { brief: 'b_1', revision: 2 });
  assert.equal(briefs.briefs.b_9, undefined);
});

test('schedule, announcements, help and outputs', () => {
  const schedule = fold('schedule', [
    { type: 'phase_set', phase: { id: 'ph_b', title: 'B', starts_at: 100, ends_at: 200 } },
    { type: 'phase_set', phase: { id: 'ph_a', title: 'A', starts_at: 100, ends_at: 150 } },
    { type: 'phase_set', phase: { id: 'ph_c', title: 'C', starts_at: 50, ends_at: 100 } },
    { type: 'phase_set', phase: { id: 'ph_c', title: 'C2', starts_at: 300, ends_at: 400 } },
  ]);
  assert.deepEqual(schedule.phases.map((p) => p.id), ['ph_a', 'ph_b', 'ph_c']);
  const at = scheduleAt(schedule, 160);
  assert.deepEqual(at.current.map((p) => p.id), ['ph_b']);
  assert.equal(at.next.id, 'ph_c');
  assert.equal(at.when(schedule.phases[0]), 'past');
  fold('schedule', [{ type: 'phase_deleted', phase: 'ph_b' }], schedule);
  assert.equal(schedule.phases.length, 2);

  const ann = fold('announcements', [
    rec({ type: 'posted', id: 'a_1', text: 'Fire drill', priority: 'urgent', pinned: false }, { ts: 5, from: 'o_1' }),
    rec({ type: 'pinned', id: 'a_1' }),
    rec({ type: 'acknowledged', id: 'a_1', participant: 'p_1' }),
  ]);
  assert.deepEqual(ann.announcements[0], {
    id: 'a_1', text: 'Fire drill', text_cy: null, priority: 'urgent', pinned: true, at: 5, by: 'o_1', acknowledged_by: ['p_1'], edited: null, retracted: null,
  });
  fold('announcements', [
    rec({ type: 'edited', id: 'a_1', text: 'Fire drill at 4pm', priority: 'urgent', pinned: true, clears_acknowledgements: true }, { ts: 6, from: 'o_2' }),
    rec({ type: 'posted', id: 'a_2', text: 'Wi-Fi: wrong', priority: 'normal', pinned: false }, { ts: 7 }),
    rec({ type: 'retracted', id: 'a_2' }, { ts: 8 }),
  ], ann);
  assert.deepEqual(ann.announcements[0], {
    id: 'a_1', text: 'Fire drill at 4pm', text_cy: null, priority: 'urgent', pinned: true, at: 5, by: 'o_1', acknowledged_by: [], edited: { at: 6, by: 'o_2' }, retracted: null,
  });
  assert.deepEqual(ann.announcements[1].retracted, { at: 8, by: 'o_1' });

  const help = fold('help', [
    rec({ type: 'asked', id: 'h_1', team: 't_1', topic: 'Printer', location: '' }, { ts: 7, from: 'p_1' }),
    rec({ type: 'claimed', id: 'h_1', by: 'o_1' }, { ts: 8 }),
    rec({ type: 'released', id: 'h_1' }, { ts: 9 }),
    rec({ type: 'resolved', id: 'h_1' }, { ts: 11 }),
  ]);
  assert.deepEqual(help.requests[0], { id: 'h_1', team: 't_1', topic: 'Printer', location: '', status: 'resolved', asked_by: 'p_1', asked_at: 7, claimed_by: null, claimed_at: null, closed_at: 11 });

  const outputs = fold('outputs', [rec({ type: 'saved', output: { team: 't_1', title: 'X', description: '', links: [], photos: [], next_steps: '', carried_on_by: [] } }, { ts: 12, from: 'p_1' })]);
  assert.equal(outputs.outputs.t_1.updated_at, 12);
  assert.equal(outputs.outputs.t_1.updated_by, 'p_1');
});

test('times as clocks and words', () => {
  assert.equal(formatClock(300000), '5:00');
  assert.equal(formatClock(299001), '5:00');
  assert.equal(formatClock(59000), '0:59');
  assert.equal(formatClock(3723000), '1:02:03');
  assert.equal(formatClock(-12500), '-0:12');
  assert.equal(formatWait(30000), 'less than a minute');
  assert.equal(formatWait(125 * 60000), '2 h 5 min');
});

test('the pages fold edits and retractions over a snapshot and drop retracted ones', () => {
  const base = [
    { id: 'a_1', offset: 0, text: 'Fire drill at 3pm', priority: 'urgent', pinned: false, ts: 5, acknowledged_by: ['p_1'], edited: null, retracted: null },
    { id: 'a_2', offset: 0, text: 'Wi-Fi: wrong', priority: 'normal', pinned: true, ts: 6, acknowledged_by: [], edited: null, retracted: null },
  ];
  const pubs = [
    { offset: 10, ts: 20, from: { id: 'o_1', name: 'Sam' }, data: { type: 'edited', id: 'a_1', text: 'Fire drill at 4pm', priority: 'urgent', pinned: true, clears_acknowledgements: true } },
    { offset: 11, ts: 21, from: { id: 'o_1', name: 'Sam' }, data: { type: 'retracted', id: 'a_2' } },
  ];
  const all = foldAnnouncements(pubs, base);
  const drill = all.find((a) => a.id === 'a_1');
  assert.deepEqual([drill.text, drill.pinned, drill.acknowledged_by, drill.edited, drill.ts], ['Fire drill at 4pm', true, [], { at: 20, by: 'o_1' }, 5]);
  assert.equal(drill.offset, 10, 'an edit counts as news where it arrived');
  assert.deepEqual(all.find((a) => a.id === 'a_2').retracted, { at: 21, by: 'o_1' });
  assert.deepEqual(all.filter((a) => !a.retracted).map((a) => a.id), ['a_1']);
});

test('skills match what a team misses loosely: case, plurals, endings and parts of words, not any substring', () => {
  const matches = [
    ['design', 'Service design'],
    ['Designer', 'Service design'],
    ['SERVICE DESIGN', 'service design'],
    ['writers', 'Writing'],
    ['facil', 'Facilitation'],
    ['facilitator', 'Facilitation'],
    ['copy writing', 'Copywriting'],
    ['Developers', 'Developer'],
    ['user research', 'Research'],
    ['Welsh', 'Welsh speaker'],
  ];
  for (const [skill, need] of matches) assert.ok(skillMatches(skill, need), `${skill} covers ${need}`);
  const different = [
    ['Java', 'JavaScript'],
    ['Rust', 'Trust building'],
    ['art', 'Participation'],
    ['UX design', 'Service design'],
    ['', 'Design'],
    ['and', 'Design and build'],
  ];
  for (const [skill, need] of different) assert.ok(!skillMatches(skill, need), `${skill} does not cover ${need}`);
  assert.equal(stem('copies'), 'copy');
  assert.equal(stem('class'), 'class');
  assert.equal(stem('ux'), 'ux');
  assert.deepEqual(neededSkills(['design', 'video'], ['Facilitation', 'Service design', 'Video editing']), ['Service design', 'Video editing']);
  assert.deepEqual(neededSkills([], ['Design']), []);
});
