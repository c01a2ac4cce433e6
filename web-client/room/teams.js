// room/teams.js: the room's Teams section: who is where and who is missing what. Every open team
// with its brief, its members and the skills it misses ("You have what it misses" where this
// person's skills fit), joining, switching and leaving teams, the people without a team, and this
// person's own skills.

import { $, announce, h, parseList, setChildren, skillsProblem } from '../ui.js';
import { neededSkills } from '../skills.js';
import { replaceKeepingFocus } from '../views.js';
import { errorText, langOf, localText, onLanguageChange, t } from '../i18n.js';

/** Sets up the Teams section; returns `render()`. */
export function teamsSection(room) {
  const { client, me } = room;
  const renderSkills = () => {
    const mine = room.roster && room.roster.participants[me.id];
    const skills = mine ? mine.skills || [] : [];
    $('#my-skills-text').textContent = skills.length ? skills.join(', ') : t('teams.noSkills');
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
    announce(t('teams.skillsSaved'));
  });
  const rosterCommand = (command, failed) => {
    $('#teams-message').textContent = '';
    client.command('roster', command).done.catch((err) => {
      $('#teams-message').textContent = `${failed()} ${errorText(err)}`;
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
        const members = team.members.map((id) => (id === me.id ? t('chat.meHere', { name: room.nameOf(id) }) : room.nameOf(id)));
        const briefTitle = brief ? localText(brief.title, brief.title_cy) : null;
        const youHave = neededSkills(mySkills, team.missing); // matched loosely: "design" covers "Service design"
        // Not disabled while a move waits, so the focus can stay on it; a second tap does nothing.
        const button = ours
          ? h('button', { type: 'button', class: 'secondary', 'data-focus': `team:${team.id}`, onclick: () => waitingMove() || rosterCommand({ type: 'team.leave' }, () => t('teams.leaveFailed')) }, t('teams.leave'))
          : h(
              'button',
              { type: 'button', 'data-focus': `team:${team.id}`, 'aria-label': t(room.teamId ? 'teams.switchTo' : 'teams.joinNamed', { team: team.name }), onclick: () => waitingMove() || rosterCommand({ type: 'team.join', team: team.id }, () => t('teams.joinFailed', { team: team.name })) },
              room.teamId ? t('teams.switch') : t('teams.join'),
            );
        return h(
          'li',
          { class: ours ? 'team-card ours' : 'team-card', 'data-team': team.id },
          h('h3', {}, team.name, ours ? h('span', { class: 'you-tag', text: ` · ${t('teams.yours')}` }) : null),
          brief ? h('p', { class: 'team-brief' }, `${t('join.brief')} `, h('strong', { text: briefTitle.text, lang: langOf(briefTitle.lang) }), ` · ${brief.partner}`) : h('p', { class: 'team-brief hint', text: t('teams.noBrief') }),
          h('p', { class: 'members' }, h('strong', { text: t('people.count', { count: members.length }) }), members.length ? `: ${members.join(', ')}` : ''),
          team.needs.length
            ? team.missing.length
              ? h('p', { class: 'missing' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), `${t('teams.missing')} `, h('strong', { text: team.missing.join(', ') }))
              : h('p', { class: 'complete' }, h('span', { 'aria-hidden': 'true', text: '✓ ' }), `${t('join.complete')} (${team.needs.join(', ')})`)
            : null,
          youHave.length && !ours ? h('p', { class: 'match', text: t('join.useful', { skills: youHave.join(', ') }) }) : null,
          h('div', { class: 'tool-group' }, button),
        );
      });
    replaceKeepingFocus($('#team-list'), items);
    const teamless = Object.values(room.roster.participants).filter((p) => p.role === 'participant' && !p.removed && !p.team);
    $('#teamless').hidden = teamless.length === 0;
    setChildren(
      $('#teamless-list'),
      ...teamless.map((p) => h('li', {}, p.id === me.id ? t('chat.meHere', { name: p.name }) : p.name, p.skills && p.skills.length ? h('span', { class: 'skills', text: t('teams.skillsOf', { skills: p.skills.join(', ') }) }) : null)),
    );
  };

  // Redrawn while open as changes wait in the outbox and leave it.
  client.on('outbox', () => {
    if (room.section === 'teams') render();
  });
  client.on('failed', ({ entry, error }) => {
    if (entry.channel === 'roster') $('#teams-message').textContent = `${t('form.notMade')} ${errorText(error)}`;
  });
  onLanguageChange(render);
  return { render };
}
