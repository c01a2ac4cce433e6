// room/teams.js: the room's Teams section: who is where and who is missing what. Every open team
// with its brief, its members and the skills it misses ("You have what it misses" where this
// person's skills fit), joining, switching and leaving teams, the people without a team, and this
// person's own skills.

import { $, announce, h, parseList, setChildren, skillsProblem } from '../ui.js';
import { neededSkills } from '../skills.js';
import { replaceKeepingFocus } from '../views.js';

/** Sets up the Teams section; returns `render()`. */
export function teamsSection(room) {
  const { client, me } = room;
  const renderSkills = () => {
    const mine = room.roster && room.roster.participants[me.id];
    const skills = mine ? mine.skills || [] : [];
    $('#my-skills-text').textContent = skills.length ? skills.join(', ') : 'None listed yet. Add some so teams can find you.';
    const input = $('#skills-input');
    if (document.activeElement !== input && !input.dataset.dirty) input.value = skills.join(', ');
  };
  $('#skills-input').addEventListener('input', (event) => (event.target.dataset.dirty = '1'));
  $('#skills-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('#skills-input');
    const skills = parseList(input.value);
    const problem = skillsProblem(skills);
    if (problem) {
      $('#teams-message').textContent = problem;
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
  const render = () => {
    renderSkills();
    if (!room.roster) return;
    const mySkills = (room.roster.participants[me.id] || {}).skills || [];
    const waitingMove = () => client.outbox.some((e) => e.channel === 'roster' && e.command && (e.command.type === 'team.join' || e.command.type === 'team.leave'));
    const items = room.openTeams()
      .sort((a, b) => (b.id === room.teamId) - (a.id === room.teamId))
      .map((team) => {
        const ours = team.id === room.teamId;
        const brief = team.brief && room.briefs ? room.briefs.briefs[team.brief] : null;
        const members = team.members.map((id) => (id === me.id ? `${room.nameOf(id)} (you)` : room.nameOf(id)));
        const youHave = neededSkills(mySkills, team.missing); // matched loosely: "design" covers "Service design"
        // Not disabled while a move waits, so the focus can stay on it; a second tap does nothing.
        const button = ours
          ? h('button', { type: 'button', class: 'secondary', 'data-focus': `team:${team.id}`, onclick: () => waitingMove() || rosterCommand({ type: 'team.leave' }, 'leave the team') }, 'Leave this team')
          : h(
              'button',
              { type: 'button', 'data-focus': `team:${team.id}`, 'aria-label': `${room.teamId ? 'Switch to' : 'Join'} ${team.name}`, onclick: () => waitingMove() || rosterCommand({ type: 'team.join', team: team.id }, `join ${team.name}`) },
              room.teamId ? 'Switch to this team' : 'Join this team',
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
    const teamless = Object.values(room.roster.participants).filter((p) => p.role === 'participant' && !p.removed && !p.team);
    $('#teamless').hidden = teamless.length === 0;
    setChildren(
      $('#teamless-list'),
      ...teamless.map((p) => h('li', {}, p.id === me.id ? `${p.name} (you)` : p.name, p.skills && p.skills.length ? h('span', { class: 'skills', text: `Skills: ${p.skills.join(', ')}` }) : null)),
    );
  };

  // Redrawn while open as changes wait in the outbox and leave it.
  client.on('outbox', () => {
    if (room.section === 'teams') render();
  });
  client.on('failed', ({ entry, error }) => {
    if (entry.channel === 'roster') $('#teams-message').textContent = `That change was not made: ${error.message}.`;
  });
  return { render };
}
