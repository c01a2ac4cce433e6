// organiser/people.js: the console's Teams and people, and Connected now. Every team with its brief,
// needs, missing skills and members (who is connected), to rename, change its needs or archive;
// people without a team; organisers and displays; "Remove" for a person; adding a team.

import { $, announce, h, parseList, setChildren } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';

/** Sets up Teams and people and Connected now; returns `render()` (the teams and people). */
export function peopleSection(organiser) {
  const { client } = organiser;
  const rosterMessage = $('#roster-message');
  let renamingTeam = null;
  const renderConnected = () => {
    $('#connected-title').textContent = `Connected now (${organiser.present.length})`;
    setChildren(
      $('#connected-list'),
      ...organiser.present.map((member) =>
        h(
          'li',
          {},
          member.id === organiser.me.id ? `${member.name} (you)` : member.name,
          member.role !== 'participant' ? h('span', { class: 'skills', text: member.role === 'display' ? 'Display' : 'Organiser' }) : null,
        ),
      ),
    );
  };
  const removePerson = (person) => {
    if (!window.confirm(`Remove ${person.name} from the event? They are signed out at once and cannot come back with their link.`)) return;
    organiser.send('roster', { type: 'participant.remove', participant: person.id }, rosterMessage, `remove ${person.name}`);
  };
  const teamForm = (team) => {
    const name = h('input', { id: `team-${team.id}-name`, maxlength: '60', required: true, value: team.name });
    const needs = h('input', { id: `team-${team.id}-needs`, value: team.needs.join(', ') });
    const done = () => {
      renamingTeam = null;
      render();
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
          if (newName && newName !== team.name) organiser.send('roster', { type: 'team.rename', team: team.id, name: newName }, rosterMessage, 'rename the team');
          if (newNeeds.join('\n') !== team.needs.join('\n')) organiser.send('roster', { type: 'team.needs', team: team.id, needs: newNeeds }, rosterMessage, 'change what it needs');
          done();
        },
        onkeydown: (event) => event.key === 'Escape' && done(),
      },
      h('div', { class: 'field' }, h('label', { for: name.id, text: 'Team name' }), name),
      h('div', { class: 'field' }, h('label', { for: needs.id, text: 'Skills it needs (commas between)' }), needs),
      h('div', { class: 'tool-group' }, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: done }, 'Cancel')),
    );
  };
  const render = () => {
    if (!organiser.roster) return;
    if (organiser.roster.event && organiser.roster.event.name) $('#event-name').textContent = organiser.roster.event.name;
    if (renamingTeam && $('#roster-body .team-form') && document.activeElement && document.activeElement.closest('.team-form')) return; // typing wins
    const here = new Set(organiser.present.map((member) => member.id));
    const active = Object.values(organiser.roster.participants).filter((person) => !person.removed);
    const personItem = (person) =>
      h(
        'li',
        {},
        person.id === organiser.me.id ? `${person.name} (you)` : person.name,
        here.has(person.id) ? h('span', { class: 'here-mark' }, ' ● connected') : null,
        person.skills && person.skills.length ? h('span', { class: 'skills', text: `Skills: ${person.skills.join(', ')}` }) : null,
        person.id !== organiser.me.id
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
                team.brief && organiser.briefs && organiser.briefs.briefs[team.brief] ? `Brief: ${organiser.briefs.briefs[team.brief].title}. ` : '',
                team.needs.length ? `Needs: ${team.needs.join(', ')}. ` : '',
                team.missing.length ? h('strong', { class: 'missing', text: `Missing: ${team.missing.join(', ')}.` }) : team.needs.length ? 'Has every skill it asked for.' : '',
              ),
              h(
                'div',
                { class: 'tool-group' },
                h('button', { type: 'button', class: 'secondary', 'data-focus': `edit:${team.id}`, 'aria-label': `Rename or change ${team.name}`, onclick: () => ((renamingTeam = team.id), render(), $('#roster-body .team-form input').focus()) }, 'Rename'),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'secondary danger',
                    'data-focus': `archive:${team.id}`,
                    'aria-label': `Archive ${team.name}`,
                    onclick: () => window.confirm(`Archive ${team.name}? Its members become teamless; its board, room and output stay.`) && organiser.send('roster', { type: 'team.archive', team: team.id }, rosterMessage, 'archive the team'),
                  },
                  'Archive',
                ),
              ),
            ]
          : null,
        members.length ? h('ul', { class: 'people' }, members.map(personItem)) : h('p', { class: 'hint', text: 'Nobody yet.' }),
      );
    const groups = organiser.openTeams().map((team) => group(team.name, active.filter((p) => p.team === team.id), team));
    groups.push(group('Not in a team yet', active.filter((p) => p.role === 'participant' && !p.team)));
    groups.push(group('Organisers and displays', active.filter((p) => p.role !== 'participant')));
    const archived = Object.values(organiser.roster.teams).filter((t) => t.archived);
    if (archived.length) groups.push(h('p', { class: 'hint', text: `Archived teams: ${archived.map((t) => t.name).join(', ')}` }));
    replaceKeepingFocus($('#roster-body'), groups, $('#roster-title'));
  };
  $('#roster-title').tabIndex = -1;
  $('#team-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const command = { type: 'team.create', name: $('#team-name').value.trim(), needs: parseList($('#team-needs').value) };
    if ($('#team-brief').value) command.brief = $('#team-brief').value;
    organiser.send('roster', command, rosterMessage, 'add the team').done.then(() => {
      $('#team-name').value = '';
      $('#team-needs').value = '';
      announce('Team added.');
    }, () => {});
  });

  // Who is connected: the lobby's presence.
  client.on('presence', ({ channel, members }) => {
    if (channel !== 'lobby') return;
    organiser.present = members;
    renderConnected();
    render();
  });
  return { render };
}
