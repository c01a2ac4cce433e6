// The join page: /join?code=ABC123. Shows the event and its teams, asks a name, skills and a team,
// joins, keeps the refresh token for that event and goes to the room.

import { api } from './makeroom.js';
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
    else fail('Could not reach Makeroom. Check your connection, then reload the page.');
    return;
  }
  const { event, teams } = info;
  $('#event-name').textContent = event.name;
  document.title = `Join ${event.name} · Makeroom`;

  const choices = $('#team-choices');
  const radio = (value, label, count) =>
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'radio', name: 'team', value }),
      h('span', { text: label }),
      count === undefined ? null : h('span', { class: 'count', text: count === 1 ? '1 person' : `${count} people` }),
    );
  for (const team of teams) choices.append(radio(team.id, team.name, team.members));
  choices.append(radio('', 'Not yet'));
  if (teams.length === 0) $('#teams').hidden = true;
  const first = choices.querySelector('input[value=""]');
  first.checked = true;

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
