// The join page: /join?code=ABC123. Shows the event and its teams, each with its brief and the skills
// it still misses, so a newcomer can see where they would be useful: as they type their skills, the
// teams that miss one of them say so (matched loosely, skills.js). Asks a name, skills and a team (none
// is picked for them), joins, keeps the refresh token for that event and goes to the room.

import { api } from './makeroom.js';
import { neededSkills } from './skills.js';
import { $, h, keepForOffline, loadSession, parseList, saveSession, skillsProblem } from './ui.js';

const code = (new URLSearchParams(location.search).get('code') || '').trim().toUpperCase();
const message = $('#message');

function fail(text) {
  message.textContent = text;
}

function roomUrl(eventId) {
  return `/room?event=${encodeURIComponent(eventId)}`;
}

async function start() {
  if (!code) {
    $('#code-form').hidden = false;
    return;
  }
  let info;
  try {
    info = await api(`/api/join/${encodeURIComponent(code)}`);
  } catch (err) {
    $('#code-form').hidden = false;
    $('#code').value = code;
    if (err.code === 'not_found') fail(`No event has the join code "${code}". Check the code and try again.`);
    else if (err.code === 'forbidden') fail('Joining this event is closed for now. Ask an organiser to open it again.');
    else if (err.code === 'rate_limited') fail(`Too many people on this network are joining at once. Try again in ${Math.ceil((err.retryAfterMs || 1000) / 1000)} seconds.`);
    else if (err.code === 'network') fail('Could not reach Makeroom. Check your connection, then reload the page.');
    else fail(`Could not look the code up: ${err.message}.`);
    return;
  }
  const { event, teams } = info;
  $('#event-name').textContent = event.name;
  document.title = `Join ${event.name} · Makeroom`;

  const choices = $('#team-choices');
  const matches = []; // [{team, line}]: "You have what it misses", shown as the skills are typed
  const teamChoice = (team) => {
    const id = `team-${team.id}`;
    const missing = team.missing || [];
    const line = h('span', { class: 'match', hidden: true });
    matches.push({ team, line });
    return h(
      'label',
      { class: 'choice team-choice', 'data-team': team.id },
      h('input', { type: 'radio', name: 'team', value: team.id, 'aria-labelledby': `${id}-name`, 'aria-describedby': `${id}-about` }),
      h(
        'span',
        { class: 'team-choice-text' },
        h('span', { class: 'team-choice-head' }, h('span', { class: 'team-name', id: `${id}-name`, text: team.name }), h('span', { class: 'count', text: team.members === 1 ? '1 person' : `${team.members} people` })),
        h(
          'span',
          { class: 'team-about', id: `${id}-about` },
          h('span', { class: 'team-brief' }, team.brief ? ['Brief: ', h('strong', { text: team.brief })] : 'No brief yet'),
          missing.length
            ? h('span', { class: 'missing' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), 'Still missing: ', h('strong', { text: missing.join(', ') }))
            : team.needs && team.needs.length
              ? h('span', { class: 'complete' }, h('span', { 'aria-hidden': 'true', text: '✓ ' }), 'Has every skill it asked for')
              : null,
          line,
        ),
      ),
    );
  };
  for (const team of teams) choices.append(teamChoice(team));
  choices.append(h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'team', value: '' }), h('span', { text: 'Not yet' })));
  if (teams.length === 0) $('#teams').hidden = true;
  // As the skills are typed, each team that misses one of them says so.
  const showMatches = () => {
    const skills = parseList($('#skills').value);
    for (const { team, line } of matches) {
      const useful = neededSkills(skills, team.missing);
      line.hidden = useful.length === 0;
      line.textContent = useful.length ? `✓ You have what it misses: ${useful.join(', ')}` : '';
      line.closest('.team-choice').classList.toggle('useful', useful.length > 0);
    }
  };
  $('#skills').addEventListener('input', showMatches);
  showMatches();

  const form = $('#join-form');
  const known = loadSession('participant', event.id);
  if (known) {
    const link = $('#continue-link');
    link.textContent = `Continue as ${known.participant.name}`;
    link.href = roomUrl(event.id);
    $('#continue').hidden = false;
    $('#someone-else').addEventListener('click', () => {
      $('#continue').hidden = true;
      form.hidden = false;
      $('#name').focus();
    });
  } else {
    form.hidden = false;
  }

  form.addEventListener('submit', async (submit) => {
    submit.preventDefault();
    fail('');
    const nameInput = $('#name');
    const skillsInput = $('#skills');
    const name = nameInput.value.trim();
    const skills = parseList(skillsInput.value);
    let problem = false;
    const check = (input, errorEl, text) => {
      errorEl.textContent = text || '';
      input.setAttribute('aria-invalid', text ? 'true' : 'false');
      if (text && !problem) input.focus();
      if (text) problem = true;
    };
    check(nameInput, $('#name-error'), name ? '' : 'Please tell us your name.');
    check(skillsInput, $('#skills-error'), skillsProblem(skills));
    if (problem) return;
    const team = (form.querySelector('input[name="team"]:checked') || {}).value || undefined;
    const button = $('#join-button');
    button.disabled = true;
    button.textContent = 'Joining…';
    try {
      const joined = await api('/api/join', { method: 'POST', body: { code, name, skills, team } });
      saveSession('participant', {
        refresh_token: joined.refresh_token,
        refresh_expires_at: joined.refresh_expires_at,
        participant: joined.participant,
        event: joined.event,
        team: joined.team || null,
        code,
      });
      location.assign(roomUrl(joined.event.id));
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Join the event';
      if (err.code === 'network') fail('Could not reach Makeroom. Check your connection and try again.');
      else fail(`Could not join: ${err.message}.`);
    }
  });
}

keepForOffline();
start();
