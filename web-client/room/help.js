// room/help.js: the room's help sheet, opened by the Help button in the top bar whatever section is
// open: ask for help (`help.ask`, with where you are), and the team's open requests, waiting or with
// who is on the way, with "It's sorted" and "Cancel". The button counts the open ones.

import { isOpenRequest } from '../state.js';
import { $, announce, formatTime, h } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';
import { errorText, onLanguageChange, t } from '../i18n.js';

/** Sets up the help sheet; returns `render()`, to call when the help queue or the team changes. */
export function helpSheet(room) {
  const { client } = room;
  const helpToggle = $('#help-toggle');
  const helpSheet = $('#help-sheet');
  const showHelp = (open) => {
    helpSheet.hidden = !open;
    helpToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) {
      render();
      (room.teamId ? $('#help-topic') : helpSheet.querySelector('h2')).focus();
    }
  };
  helpSheet.querySelector('h2').tabIndex = -1;
  helpToggle.addEventListener('click', () => showHelp(helpSheet.hidden));
  $('#help-close').addEventListener('click', () => {
    showHelp(false);
    helpToggle.focus();
  });
  helpSheet.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      showHelp(false);
      helpToggle.focus();
    }
  });
  $('#help-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const topic = $('#help-topic').value.trim();
    if (!topic) return $('#help-topic').focus();
    $('#help-message').textContent = '';
    const location = $('#help-location').value.trim();
    client.command('help', { type: 'help.ask', topic, location });
    $('#help-topic').value = '';
    announce(t('help.requested'));
  });
  const helpStatus = (request) => {
    if (request.status === 'claimed') return t('help.onTheWay', { name: room.nameOf(request.claimed_by) || t('help.anOrganiser') });
    return t('help.waiting');
  };
  const render = () => {
    const teamId = room.teamId;
    const mine = room.help && teamId ? room.help.requests.filter((r) => r.team === teamId && isOpenRequest(r)) : [];
    const waiting = client.outbox.filter((e) => e.channel === 'help' && e.command && e.command.type === 'help.ask');
    $('#help-count').textContent = mine.length + waiting.length > 0 ? ` ${t('help.count', { count: mine.length + waiting.length })}` : '';
    $('#help-form').hidden = !teamId;
    $('#help-teamless').hidden = Boolean(teamId);
    if (helpSheet.hidden) return;
    const rows = [
      ...waiting.map((e) => h('li', { class: 'request pending' }, h('p', { class: 'topic', text: e.command.topic }), h('p', { class: 'hint', text: t('form.waitingToSend') }))),
      ...mine.map((request) =>
        h(
          'li',
          { class: `request ${request.status}`, 'data-request': request.id },
          h('p', { class: 'topic', text: request.topic }),
          h('p', { class: 'hint' }, request.location ? `${request.location} · ` : '', t('help.asked', { time: formatTime(request.asked_at), name: room.nameOf(request.asked_by) || t('help.yourTeam') })),
          h('p', { class: 'request-status' }, h('span', { 'aria-hidden': 'true', text: request.status === 'claimed' ? '● ' : '○ ' }), helpStatus(request)),
          h(
            'div',
            { class: 'tool-group' },
            h('button', { type: 'button', class: 'secondary', 'data-focus': `resolve:${request.id}`, 'aria-label': `${t('help.sorted')}: ${request.topic}`, onclick: () => client.command('help', { type: 'help.resolve', request: request.id }) }, `✓ ${t('help.sorted')}`),
            request.status === 'open'
              ? h('button', { type: 'button', class: 'secondary', 'data-focus': `cancel:${request.id}`, 'aria-label': `${t('form.cancel')}: ${request.topic}`, onclick: () => client.command('help', { type: 'help.cancel', request: request.id }) }, t('form.cancel'))
              : null,
          ),
        ),
      ),
    ];
    replaceKeepingFocus($('#help-list'), rows, $('#help-topic'));
    $('#help-empty').hidden = rows.length > 0;
  };

  client.on('outbox', render);
  client.on('failed', ({ entry, error }) => {
    if (entry.channel === 'help') $('#help-message').textContent = `${t('help.notSent')} ${errorText(error)}`;
  });
  onLanguageChange(render);
  return { render };
}
