// The join page: /join?code=ABC123. Shows the event and its teams, each with its brief and the skills
// it still misses, so a newcomer can see where they would be useful: as they type their skills, the
// teams that miss one of them say so (matched loosely, skills.js). Asks a name, skills and a team (none
// is picked for them), joins, keeps the refresh token for that event and goes to the room.

import { api } from './makeroom.js';
import { neededSkills } from './skills.js';
import { $, h, keepForOffline, loadSession, parseList, saveSession, skillsProblem } from './ui.js';
import { errorText, langOf, localText, onLanguageChange, setEvent, showText, startPage, t } from './i18n.js';

const code = (new URLSearchParams(location.search).get('code') || '').trim().toUpperCase();
const message = $('#message');
let failed = null; // what #message says, as a function, so that it is said again in a new language

function fail(say) {
  failed = typeof say === 'function' ? say : null;
  message.textContent = failed ? failed() : say;
}
onLanguageChange(() => {
  if (failed) message.textContent = failed();
});

/** A team's brief title in the reader's language where it has one, with its `lang`. */
function briefTitle(team) {
  const title = localText(team.brief, team.brief_cy);
  return h('strong', { text: title.text, lang: langOf(title.lang) });
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
    const seconds = Math.ceil((err.retryAfterMs || 1000) / 1000);
    if (err.code === 'not_found') fail(() => t('join.noSuchCode', { code }));
    else if (err.code === 'forbidden') fail(() => t('join.closed'));
    else if (err.code === 'rate_limited') fail(() => t('join.tooMany', { count: seconds }));
    else if (err.code === 'network') fail(() => t('join.unreachable'));
    else fail(() => `${t('join.lookupFailed')} ${errorText(err)}`);
    return;
  }
  const { event, teams } = info;
  setEvent(event);
  const showEvent = () => {
    const name = localText(event.name, event.name_cy);
    showText($('#event-name'), name);
    document.title = t('join.title', { name: name.text });
  };
  showEvent();

  const choices = $('#team-choices');
  let matches = []; // [{team, line}]: "You have what it misses", shown as the skills are typed
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
        h('span', { class: 'team-choice-head' }, h('span', { class: 'team-name', id: `${id}-name`, text: team.name }), h('span', { class: 'count', text: t('people.count', { count: team.members }) })),
        h(
          'span',
          { class: 'team-about', id: `${id}-about` },
          h('span', { class: 'team-brief' }, team.brief ? [`${t('join.brief')} `, briefTitle(team)] : t('join.noBrief')),
          missing.length
            ? h('span', { class: 'missing' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), `${t('join.missing')} `, h('strong', { text: missing.join(', ') }))
            : team.needs && team.needs.length
              ? h('span', { class: 'complete' }, h('span', { 'aria-hidden': 'true', text: '✓ ' }), t('join.complete'))
              : null,
          line,
        ),
      ),
    );
  };
  // Drawn again in a new language, keeping the team picked.
  const drawTeams = () => {
    const picked = (choices.querySelector('input[name="team"]:checked') || {}).value;
    matches = [];
    choices.textContent = '';
    for (const team of teams) choices.append(teamChoice(team));
    choices.append(h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'team', value: '' }), h('span', { text: t('join.notYet') })));
    if (picked !== undefined) {
      const again = [...choices.querySelectorAll('input[name="team"]')].find((input) => input.value === picked);
      if (again) again.checked = true;
    }
  };
  drawTeams();
  if (teams.length === 0) $('#teams').hidden = true;
  // As the skills are typed, each team that misses one of them says so.
  const showMatches = () => {
    const skills = parseList($('#skills').value);
    for (const { team, line } of matches) {
      const useful = neededSkills(skills, team.missing);
      line.hidden = useful.length === 0;
      line.textContent = useful.length ? `✓ ${t('join.useful', { skills: useful.join(', ') })}` : '';
      line.closest('.team-choice').classList.toggle('useful', useful.length > 0);
    }
  };
  $('#skills').addEventListener('input', showMatches);
  showMatches();
  onLanguageChange(() => {
    showEvent();
    drawTeams();
    showMatches();
    if (known) $('#continue-link').textContent = t('join.continueAs', { name: known.participant.name });
  });

  const form = $('#join-form');
  const known = loadSession('participant', event.id);
  if (known) {
    const link = $('#continue-link');
    link.textContent = t('join.continueAs', { name: known.participant.name });
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
    check(nameInput, $('#name-error'), name ? '' : t('join.nameMissing'));
    check(skillsInput, $('#skills-error'), skillsProblem(skills));
    if (problem) return;
    const team = (form.querySelector('input[name="team"]:checked') || {}).value || undefined;
    const button = $('#join-button');
    button.disabled = true;
    button.textContent = t('join.joining');
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
      button.textContent = t('join.submit');
      fail(() => `${t('join.failed')} ${errorText(err)}`);
    }
  });
}

startPage();
keepForOffline();
start();
