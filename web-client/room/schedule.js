// room/schedule.js: the room's Schedule section: the phases with their times, "Now", the next one
// and how long until it starts, and the past ones "Done". While a team presents, who it is and the
// time left, from the server's clock; the presenting team's own phones warn them near the end.

import { formatClock, formatWait, remainingMs, scheduleAt } from '../state.js';
import { $, formatTime, h, setChildren } from '../ui.js';

/** Sets up the Schedule section; returns `render()`, which draws only while the section is open. */
export function scheduleSection(room) {
  const { client } = room;
  const render = () => {
    if (room.section !== 'schedule') return;
    const now = client.serverNow();
    const list = $('#phase-list');
    if (!room.schedule) {
      setChildren(list, h('li', { class: 'empty', text: 'Loading the schedule…' }));
      return;
    }
    const { current, next, when } = scheduleAt(room.schedule, now);
    const parts = [];
    if (current.length) parts.push(`Now: ${current.map((p) => `${p.title} (ends in ${formatWait(p.ends_at - now)})`).join(', ')}.`);
    if (next) parts.push(`Next: ${next.title} in ${formatWait(next.starts_at - now)}.`);
    $('#phase-summary').textContent = parts.join(' ') || (room.schedule.phases.length ? 'The schedule is over.' : '');
    const range = (p) => `${formatTime(p.starts_at)} – ${formatTime(p.ends_at)}`;
    setChildren(
      list,
      ...(room.schedule.phases.length
        ? room.schedule.phases.map((p) => {
            const state = when(p);
            const label = state === 'now' ? 'Now' : p === next ? `Next, in ${formatWait(p.starts_at - now)}` : state === 'past' ? 'Done' : '';
            return h(
              'li',
              { class: `phase ${state}${p === next ? ' next' : ''}`, 'aria-current': state === 'now' ? 'time' : null },
              h('span', { class: 'phase-time', text: range(p) }),
              h('span', { class: 'phase-title', text: p.title }),
              label ? h('span', { class: 'phase-label' }, state === 'now' ? h('span', { 'aria-hidden': 'true', text: '▶ ' }) : null, label) : null,
            );
          })
        : [h('li', { class: 'empty', text: 'No schedule yet.' })]),
    );
    renderShow();
  };
  const renderShow = () => {
    const box = $('#show-now');
    const current = room.presentations && room.presentations.current;
    box.hidden = !current;
    if (!current) return;
    const left = remainingMs(room.presentations, client.serverNow());
    const ours = current.team === room.teamId;
    const warn = left <= room.presentations.warning_ms;
    box.className = `show-now${warn ? ' warn' : ''}${left < 0 ? ' over' : ''}`;
    const time = left < 0 ? `${formatClock(-left)} over time` : `${formatClock(left)} left`;
    setChildren(
      box,
      h('p', {}, 'Show and tell: ', h('strong', { text: ours ? 'your team is presenting' : `${room.teamName(current.team)} is presenting` }), ` · ${time}${current.paused_at ? ' (paused)' : ''}`),
      ours && warn ? h('p', { class: 'warn-text' }, h('span', { 'aria-hidden': 'true', text: '⚠ ' }), left < 0 ? 'Time is up: please wrap up now.' : 'Nearly time: start wrapping up.') : null,
    );
  };
  setInterval(() => {
    if (room.section === 'schedule' && document.visibilityState !== 'hidden') {
      if (room.presentations && room.presentations.current) renderShow();
      if (Math.floor(Date.now() / 1000) % 15 === 0) render();
    }
  }, 1000);
  return { render };
}
