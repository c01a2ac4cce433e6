// organiser/people.js: the console's Teams and people, and Connected now. Every team with its brief,
// needs, missing skills and members (who is connected), to rename, change its needs or archive;
// people without a team; organisers and displays; "Remove" for a person; adding a team.

import { $, announce, h, parseList, setChildren } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';
import { onLanguageChange, t } from '../i18n.js';

/** Sets up Teams and people and Connected now; returns `render()` (the teams and people). */
export function peopleSection(organiser) {
  const { client } = organiser;
  const rosterMessage = $('#roster-message');
  let renamingTeam = null;
  const renderConnected = () => {
    $('#connected-title').textContent = t('org.connectedCount', { count: organiser.present.length });
    setChildren(
      $('#connected-list'),
      ...organiser.present.map((member) =>
        h(
          'li',
          {},
          member.id === organiser.me.id ? t('chat.meHere', { name: member.name }) : member.name,
          member.role !== 'participant' ? h('span', { class: 'skills', text: member.role === 'display' ? t('org.display') : t('org.organiser') }) : null,
        ),
      ),
    );
  };
  const removePerson = (person) => {
    if (!window.confirm(t('org.confirmRemove', { name: person.name }))) return;
    organiser.send('roster', { type: 'participant.remove', participant: person.id }, rosterMessage, t('org.do.remove', { name: person.name }));
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
          if (newName && newName !== team.name) organiser.send('roster', { type: 'team.rename', team: team.id, name: newName }, rosterMessage, t('org.do.rename'));
          if (newNeeds.join('\n') !== team.needs.join('\n')) organiser.send('roster', { type: 'team.needs', team: team.id, needs: newNeeds }, rosterMessage, t('org.do.needs'));
          done();
        },
        onkeydown: (event) => event.key === 'Escape' && done(),
      },
      h('div', { class: 'field' }, h('label', { for: name.id, text: t('org.teamName') }), name),
      h('div', { class: 'field' }, h('label', { for: needs.id, text: t('org.needsCommas') }), needs),
      h('div', { class: 'tool-group' }, h('button', { type: 'submit' }, t('form.save')), h('button', { type: 'button', class: 'secondary', onclick: done }, t('form.cancel'))),
    );
  };
  const render = () => {
    if (!organiser.roster) return;
    if (renamingTeam && $('#roster-body .team-form') && document.activeElement && document.activeElement.closest('.team-form')) return; // typing wins
    const here = new Set(organiser.present.map((member) => member.id));
    const active = Object.values(organiser.roster.participants).filter((person) => !person.removed);
    const personItem = (person) =>
      h(
        'li',
        {},
        person.id === organiser.me.id ? t('chat.meHere', { name: person.name }) : person.name,
        here.has(person.id) ? h('span', { class: 'here-mark' }, ` ● ${t('org.isConnected')}`) : null,
        person.skills && person.skills.length ? h('span', { class: 'skills', text: t('teams.skillsOf', { skills: person.skills.join(', ') }) }) : null,
        person.id !== organiser.me.id
          ? h('button', { type: 'button', class: 'link danger', 'data-focus': `remove:${person.id}`, 'aria-label': t('org.removeFromEvent', { name: person.name }), onclick: () => removePerson(person) }, t('org.remove'))
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
                team.brief && organiser.briefs && organiser.briefs.briefs[team.brief] ? `${t('join.brief')} ${organiser.briefs.briefs[team.brief].title}. ` : '',
                team.needs.length ? `${t('org.needsList', { needs: team.needs.join(', ') })} ` : '',
                team.missing.length ? h('strong', { class: 'missing', text: `${t('teams.missing')} ${team.missing.join(', ')}.` }) : team.needs.length ? `${t('join.complete')}.` : '',
              ),
              h(
                'div',
                { class: 'tool-group' },
                h('button', { type: 'button', class: 'secondary', 'data-focus': `edit:${team.id}`, 'aria-label': t('org.renameOrChange', { team: team.name }), onclick: () => ((renamingTeam = team.id), render(), $('#roster-body .team-form input').focus()) }, t('board.rename')),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'secondary danger',
                    'data-focus': `archive:${team.id}`,
                    'aria-label': t('org.archiveNamed', { team: team.name }),
                    onclick: () => window.confirm(t('org.confirmArchive', { team: team.name })) && organiser.send('roster', { type: 'team.archive', team: team.id }, rosterMessage, t('org.do.archive')),
                  },
                  t('org.archive'),
                ),
              ),
            ]
          : null,
        members.length ? h('ul', { class: 'people' }, members.map(personItem)) : h('p', { class: 'hint', text: t('org.nobodyYet') }),
      );
    const groups = organiser.openTeams().map((team) => group(team.name, active.filter((p) => p.team === team.id), team));
    groups.push(group(t('teams.teamless'), active.filter((p) => p.role === 'participant' && !p.team)));
    groups.push(group(t('org.organisersAndDisplays'), active.filter((p) => p.role !== 'participant')));
    const archived = Object.values(organiser.roster.teams).filter((team) => team.archived);
    if (archived.length) groups.push(h('p', { class: 'hint', text: t('org.archivedTeams', { teams: archived.map((team) => team.name).join(', ') }) }));
    replaceKeepingFocus($('#roster-body'), groups, $('#roster-title'));
  };
  $('#roster-title').tabIndex = -1;
  $('#team-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const command = { type: 'team.create', name: $('#team-name').value.trim(), needs: parseList($('#team-needs').value) };
    if ($('#team-brief').value) command.brief = $('#team-brief').value;
    organiser.send('roster', command, rosterMessage, t('org.do.addTeam')).done.then(() => {
      $('#team-name').value = '';
      $('#team-needs').value = '';
      announce(t('org.teamAdded'));
    }, () => {});
  });

  // Who is connected: the lobby's presence.
  client.on('presence', ({ channel, members }) => {
    if (channel !== 'lobby') return;
    organiser.present = members;
    renderConnected();
    render();
  });
  onLanguageChange(() => {
    renderConnected();
    render();
  });
  return { render };
}
