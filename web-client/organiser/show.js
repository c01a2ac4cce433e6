// organiser/show.js: the console's Show and tell: the presenting team with its live time left (on
// the server's clock) and who is next; start, pause, resume, +1 minute, next team, end; the running
// order, reordered with ↑ and ↓, teams added and removed, "Start" on any team; the slot and warning.

import { formatClock, nextPresenter, remainingMs } from '../state.js';
import { $, h, setChildren } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';

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
    if (live && !window.confirm(`Restart the show from the first team? ${organiser.teamName(live.team)} stops presenting and ${organiser.teamName(organiser.presentations.order[0])} starts again with a full slot.`)) return;
    presentationsCommand({ type: 'presentations.start', index: 0 }, live ? 'restart the show' : 'start the show');
  });
  show.pause.addEventListener('click', () => presentationsCommand({ type: 'presentations.pause' }, 'pause'));
  show.resume.addEventListener('click', () => presentationsCommand({ type: 'presentations.resume' }, 'resume'));
  show.extend.addEventListener('click', () => presentationsCommand({ type: 'presentations.extend', ms: 60000 }, 'extend the slot'));
  show.next.addEventListener('click', () => presentationsCommand({ type: 'presentations.next' }, 'move on'));
  show.stop.addEventListener('click', () => {
    if (window.confirm('End the show and tell now?')) presentationsCommand({ type: 'presentations.stop' }, 'end the show');
  });
  let lastSaid = '';
  const tickShow = () => {
    const p = organiser.presentations;
    const current = p && p.current;
    const left = current ? remainingMs(p, client.serverNow()) : null;
    const box = $('#show-now');
    box.className = `show-box${current ? ' live' : ''}${current && left <= p.warning_ms ? ' warn' : ''}${current && left < 0 ? ' over' : ''}${current && current.paused_at ? ' paused' : ''}`;
    $('#show-who').textContent = current ? `Presenting: ${organiser.teamName(current.team)}` : p && p.finished ? 'The show is over.' : 'Nobody is presenting.';
    const time = $('#show-time');
    if (current) {
      time.textContent = left < 0 ? `${formatClock(-left)} over time` : `${formatClock(left)} left${current.paused_at ? ' · paused' : ''}`;
      time.dataset.remainingMs = String(Math.round(left));
    } else {
      time.textContent = '';
      delete time.dataset.remainingMs;
    }
    const next = p ? nextPresenter(p) : null;
    $('#show-next').textContent = next ? `${current ? 'Next' : 'First'}: ${organiser.teamName(next)}` : current ? 'Last team' : '';
    // Said once per change, not every tick.
    const said = current ? `${organiser.teamName(current.team)} is presenting${current.paused_at ? ', paused' : ''}.` : $('#show-who').textContent;
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
    show.start.textContent = current ? 'Restart from the first team' : 'Start the first team';
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
    show.next.textContent = current ? (current.index + 1 < p.order.length ? 'Next team' : 'Finish the show') : 'Start';
    show.stop.disabled = !current;
    tickShow();
    const setOrder = (teams) => presentationsCommand({ type: 'presentations.order', teams }, 'change the running order');
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
        h('span', { class: 'order-name' }, organiser.teamName(team), presenting ? h('strong', { text: ' · presenting now' }) : null),
        h(
          'span',
          { class: 'tool-group' },
          h('button', { type: 'button', class: 'secondary', 'data-focus': `up:${team}`, 'aria-label': `Move ${organiser.teamName(team)} earlier`, disabled: index === 0, onclick: () => swap(index - 1) }, '↑'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `down:${team}`, 'aria-label': `Move ${organiser.teamName(team)} later`, disabled: index === p.order.length - 1, onclick: () => swap(index + 1) }, '↓'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `start:${team}`, 'aria-label': `Start ${organiser.teamName(team)} now`, onclick: () => presentationsCommand({ type: 'presentations.start', index }, 'start that team') }, 'Start'),
          h('button', { type: 'button', class: 'secondary', 'data-focus': `remove:${team}`, 'aria-label': `Remove ${organiser.teamName(team)} from the running order`, disabled: presenting, onclick: () => setOrder(p.order.filter((t) => t !== team)) }, 'Remove'),
        ),
      );
    });
    replaceKeepingFocus($('#order-list'), rows.length ? rows : [h('li', { class: 'hint', text: 'No teams in the running order yet.' })]);
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
    if (team && organiser.presentations) presentationsCommand({ type: 'presentations.order', teams: organiser.presentations.order.concat([team]) }, 'add the team');
  });
  $('#slot-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const slot = Math.round(Number($('#slot-minutes').value) * 60000);
    const warning = Math.round(Number($('#warning-minutes').value) * 60000);
    if (!(warning < slot)) {
      showMessage.textContent = 'The warning has to come before the end of the slot.';
      return;
    }
    presentationsCommand({ type: 'presentations.slot', slot_ms: slot, warning_ms: warning }, 'change the timing');
  });
  return { render };
}
