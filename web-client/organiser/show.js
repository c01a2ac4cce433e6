// organiser/show.js: the console's Show and tell: the presenting team with its live time left (on
// the server's clock) and who is next; start, pause, resume, +1 minute, next team, end; the running
// order, reordered with ↑ and ↓, teams added and removed, "Start" on any team; the slot and warning.

import { formatClock, nextPresenter, remainingMs } from '../state.js';
import { $, h, setChildren } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';
import { onLanguageChange, t } from '../i18n.js';

/** Sets up the Show and tell section; returns `render()`. The time left is redrawn four times a second. */
export function showSection(organiser) {
  const { client } = organiser;
  const show = {
    start: $('#show-start'),
    pause: $('#show-pause'),
    resume: $('#show-resume'),
    extend: $('#show-extend'),
    next: $('#show-next-button'),
    stop: $('#show-stop'),
  };
  const showMessage = $('#show-message');
  const presentationsCommand = (command, what) => organiser.send('presentations', command, showMessage, what);
  show.start.addEventListener('click', () => {
    // During a live show this starts over: it must not be the easy button, and it asks first.
    const live = organiser.presentations && organiser.presentations.current;
    if (live && !window.confirm(t('org.confirmRestart', { team: organiser.teamName(live.team), first: organiser.teamName(organiser.presentations.order[0]) }))) return;
    presentationsCommand({ type: 'presentations.start', index: 0 }, live ? t('org.do.restart') : t('org.do.start'));
  });
  show.pause.addEventListener('click', () => presentationsCommand({ type: 'presentations.pause' }, t('org.do.pause')));
  show.resume.addEventListener('click', () => presentationsCommand({ type: 'presentations.resume' }, t('org.do.resume')));
  show.extend.addEventListener('click', () => presentationsCommand({ type: 'presentations.extend', ms: 60000 }, t('org.do.extend')));
  show.next.addEventListener('click', () => presentationsCommand({ type: 'presentations.next' }, t('org.do.next')));
  show.stop.addEventListener('click', () => {
    if (window.confirm(t('org.confirmEnd'))) presentationsCommand({ type: 'presentations.stop' }, t('org.do.end'));
  });
  let lastSaid = '';
  const tickShow = () => {
    const p = organiser.presentations;
    const current = p && p.current;
    const left = current ? remainingMs(p, client.serverNow()) : null;
    const box = $('#show-now');
    box.className = `show-box${current ? ' live' : ''}${current && left <= p.warning_ms ? ' warn' : ''}${current && left < 0 ? ' over' : ''}${current && current.paused_at ? ' paused' : ''}`;
    $('#show-who').textContent = current ? t('org.presentingNow', { team: organiser.teamName(current.team) }) : p && p.finished ? t('org.showOver') : t('org.nobodyPresenting');
    const time = $('#show-time');
    if (current) {
      time.textContent = left < 0 ? t('org.overTime', { clock: formatClock(-left) }) : `${t('show.left', { clock: formatClock(left) })}${current.paused_at ? ` · ${t('show.paused')}` : ''}`;
      time.dataset.remainingMs = String(Math.round(left));
    } else {
      time.textContent = '';
      delete time.dataset.remainingMs;
    }
    const next = p ? nextPresenter(p) : null;
    $('#show-next').textContent = next ? t(current ? 'display.next' : 'org.first', { name: organiser.teamName(next) }) : current ? t('display.lastTeam') : '';
    // Said once per change, not every tick.
    const said = current ? t(current.paused_at ? 'org.presentingPaused' : 'display.presentingSaid', { name: organiser.teamName(current.team) }) : $('#show-who').textContent;
    if (said !== lastSaid) {
      lastSaid = said;
      $('#show-said').textContent = said;
    }
  };
  setInterval(tickShow, 250);
  const render = () => {
    const p = organiser.presentations;
    if (!p) return;
    const current = p.current;
    show.start.textContent = current ? t('org.restartFirst') : t('org.startFirst');
    show.start.disabled = p.order.length === 0;
    // While a team presents, "Next team" is the primary button and the restart a quiet one at the end.
    show.start.className = current ? 'secondary danger' : '';
    show.next.className = current ? '' : 'secondary';
    const controls = show.start.parentElement;
    const focused = document.activeElement === show.start;
    if (current && controls.lastElementChild !== show.start) controls.append(show.start);
    if (!current && controls.firstElementChild !== show.start) controls.prepend(show.start);
    if (focused && document.activeElement !== show.start) show.start.focus();
    show.pause.hidden = !current || Boolean(current.paused_at);
    show.resume.hidden = !current || !current.paused_at;
    show.extend.disabled = !current;
    show.next.disabled = p.order.length === 0;
    show.next.textContent = current ? (current.index + 1 < p.order.length ? t('org.nextTeam') : t('org.finishShow')) : t('org.start');
    show.stop.disabled = !current;
    tickShow();
    const setOrder = (teams) => presentationsCommand({ type: 'presentations.order', teams }, t('org.do.order'));
    const rows = p.order.map((team, index) => {
      const swap = (to) => {
        const teams = p.order.slice();
        [teams[index], teams[to]] = [teams[to], teams[index]];
        setOrder(teams);
      };
      const presenting = current && current.team === team;
      return h(
        'li',
        { class: presenting ? 'presenting' : null, 'data-team': team },
        h('span', { class: 'order-name' }, organiser.teamName(team), presenting ? h('strong', { text: ` · ${t('show.presentingNow')}` }) : null),
        h(
          'span',
          { class: 'tool-group' },
          h('button', { type: 'button', class: 'secondary', 'data-focus': `up:${team}`, 'aria-label': t('org.moveEarlier', { team: organiser.teamName(team) }), disabled: index === 0, onclick: () => swap(index - 1) }, '↑'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `down:${team}`, 'aria-label': t('org.moveLater', { team: organiser.teamName(team) }), disabled: index === p.order.length - 1, onclick: () => swap(index + 1) }, '↓'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `start:${team}`, 'aria-label': t('org.startNow', { team: organiser.teamName(team) }), onclick: () => presentationsCommand({ type: 'presentations.start', index }, t('org.do.startTeam')) }, t('org.start')),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `remove:${team}`, 'aria-label': t('org.removeFromOrder', { team: organiser.teamName(team) }), disabled: presenting, onclick: () => setOrder(p.order.filter((other) => other !== team)) }, t('org.remove')),
        ),
      );
    });
    replaceKeepingFocus($('#order-list'), rows.length ? rows : [h('li', { class: 'hint', text: t('org.noOrder') })]);
    const missing = organiser.openTeams().filter((t) => !p.order.includes(t.id));
    setChildren($('#order-add-team'), ...missing.map((t) => h('option', { value: t.id, text: t.name })));
    $('#order-add').hidden = missing.length === 0;
    const slot = $('#slot-minutes');
    const warning = $('#warning-minutes');
    if (document.activeElement !== slot && document.activeElement !== warning) {
      slot.value = String(p.slot_ms / 60000);
      warning.value = String(p.warning_ms / 60000);
    }
  };
  $('#order-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const team = $('#order-add-team').value;
    if (team && organiser.presentations) presentationsCommand({ type: 'presentations.order', teams: organiser.presentations.order.concat([team]) }, t('org.do.addTeam'));
  });
  $('#slot-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const slot = Math.round(Number($('#slot-minutes').value) * 60000);
    const warning = Math.round(Number($('#warning-minutes').value) * 60000);
    if (!(warning < slot)) {
      showMessage.textContent = t('org.warningFirst');
      return;
    }
    presentationsCommand({ type: 'presentations.slot', slot_ms: slot, warning_ms: warning }, t('org.do.timing'));
  });
  onLanguageChange(render);
  return { render };
}
