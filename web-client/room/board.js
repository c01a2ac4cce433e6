// room/board.js: the room's Board section: this person's team's task board (BoardView in views.js,
// editable: cards and columns, and who is on each card), or any other team's, picked at the top,
// read only. Without a team, every board is read only.

import { StateChannel } from '../state.js';
import { $, h, setChildren } from '../ui.js';
import { BoardView } from '../views.js';
import { errorText, onLanguageChange, t } from '../i18n.js';

/**
 * Sets up the Board section. Returns `render()` (the head and the board), `renderHead()` (the picker
 * and the title), `show()` (the picked board, followed live) and `reset()` (back to the own team's).
 */
export function boardSection(room) {
  const { client, me } = room;
  let board = null; // {team, channel, editable, view, follow, root}
  let boardPick = null; // the team whose board is picked; null: this person's own
  let savedBoards = {}; // team -> {state, offset}: the boards this phone saved, until the live ones come
  const boardTeam = () => boardPick || room.teamId || (room.openTeams()[0] && room.openTeams()[0].id) || null;
  const show = () => {
    const team = boardTeam();
    const editable = Boolean(team) && team === room.teamId;
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
      names: room.nameOf,
      // A card can be given to anyone in the team as it is now.
      people: () => {
        const holder = room.teamOf(team);
        return holder ? holder.members.map((id) => ({ id, name: room.nameOf(id) || t('board.someone') })).sort((a, b) => a.name.localeCompare(b.name)) : [];
      },
      meId: me.id,
      label: t('board.label', { team: room.teamName(team) }),
      onMessage: (text) => ($('#board-message').textContent = text),
    });
    const follow = new StateChannel(client, channel, {
      onChange: (state, detail) => {
        if (detail && detail.error) $('#board-message').textContent = `${t('board.loadFailed')} ${errorText(detail.error)}`;
        else if (state) view.setState(state, follow.offset);
      },
    });
    board = { team, channel, editable, view, follow, root };
    const kept = savedBoards[team];
    if (kept && kept.state) view.setState(kept.state, kept.offset);
    follow.start();
  };
  const renderHead = () => {
    const teamId = room.teamId;
    const team = boardTeam();
    const pick = $('#board-pick');
    const options = [];
    if (teamId) options.push(h('option', { value: teamId, text: `${room.teamName(teamId)} (${t('teams.yours')})` }));
    for (const other of room.openTeams()) if (other.id !== teamId) options.push(h('option', { value: other.id, text: `${other.name} (${t('board.readOnly')})` }));
    const key = options.map((o) => `${o.value}:${o.textContent}`).join('|');
    if (pick.dataset.key !== key) {
      setChildren(pick, ...options);
      pick.dataset.key = key;
    }
    if (team) pick.value = team;
    pick.parentElement.hidden = options.length < 2;
    $('#board-title').textContent = team ? (team === teamId ? t('board.ours') : t('board.theirs', { team: room.teamName(team) })) : t('board.boards');
    $('#board-note').textContent = !teamId ? t('board.noTeam') : team !== teamId ? t('board.another') : t('board.howTo');
  };
  $('#board-pick').addEventListener('change', (event) => {
    boardPick = event.target.value === room.teamId ? null : event.target.value;
    renderHead();
    show();
  });
  const render = () => {
    renderHead();
    show();
  };
  const reset = () => {
    boardPick = null;
  };
  /** Shows the boards this phone saved (room/saved.js) until the live ones come. */
  const restore = (boards) => {
    savedBoards = boards || {};
    const kept = board && savedBoards[board.team];
    if (kept && kept.state && !board.follow.state) board.view.setState(kept.state, kept.offset);
  };
  /** The team's own board as loaded live, to keep on the phone; else null. */
  const live = () => (board && board.editable && board.follow.state ? { [board.team]: { state: board.follow.state, offset: board.follow.offset } } : null);
  // A new language: the board is drawn again from the state it has, and followed on.
  onLanguageChange(() => {
    if (board && board.follow.state) savedBoards = { ...savedBoards, [board.team]: { state: board.follow.state, offset: board.follow.offset } };
    if (board) {
      board.follow.stop();
      board.view.destroy();
      board.root.remove();
      board = null;
    }
    render();
  });
  return { render, renderHead, show, reset, restore, live };
}
