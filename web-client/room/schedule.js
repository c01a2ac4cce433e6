// room/schedule.js: the room's Schedule section: the phases with their times, "Now", the next one
// and how long until it starts, and the past ones "Done". While a team presents, the running order
// with who presents and who is next (the time left and the warning are in room/presenting.js).

import { formatWait, nextPresenter, scheduleAt } from '../state.js';
import { $, formatTime, h, setChildren } from '../ui.js';
import { eventTextLang, onLanguageChange, t } from '../i18n.js';

/** Sets up the Schedule section; returns `render()`, which draws only while the section is open. */
export function scheduleSection(room) {
  const { client } = room;
  const render = () => {
    if (room.section !== 'schedule') return;
    const now = client.serverNow();
    const list = $('#phase-list');
    if (!room.schedule) {
      setChildren(list, h('li', { class: 'empty', text: t('schedule.loading') }));
      return;
    }
    const { current, next, when } = scheduleAt(room.schedule, now);
    const parts = [];
    if (current.length) parts.push(t('schedule.nowSummary', { phases: current.map((p) => t('schedule.endsIn', { title: p.title, wait: formatWait(p.ends_at - now) })).join(', ') }));
    if (next) parts.push(t('schedule.nextSummary', { title: next.title, wait: formatWait(next.starts_at - now) }));
    $('#phase-summary').textContent = parts.join(' ') || (room.schedule.phases.length ? t('schedule.over') : '');
    const range = (p) => `${formatTime(p.starts_at)} – ${formatTime(p.ends_at)}`;
    setChildren(
      list,
      ...(room.schedule.phases.length
        ? room.schedule.phases.map((p) => {
            const state = when(p);
            const label = state === 'now' ? t('schedule.now') : p === next ? t('schedule.nextIn', { wait: formatWait(p.starts_at - now) }) : state === 'past' ? t('schedule.done') : '';
            return h(
              'li',
              { class: `phase ${state}${p === next ? ' next' : ''}`, 'aria-current': state === 'now' ? 'time' : null },
              h('span', { class: 'phase-time', text: range(p) }),
              h('span', { class: 'phase-title', lang: eventTextLang(), text: p.title }),
              label ? h('span', { class: 'phase-label' }, state === 'now' ? h('span', { 'aria-hidden': 'true', text: '▶ ' }) : null, label) : null,
            );
          })
        : [h('li', { class: 'empty', text: t('schedule.none') })]),
    );
    renderShow();
  };
  // While a team presents: the running order, with who presents and who is next. Its time left is
  // in the bar above the sections (room/presenting.js), on every section.
  const renderShow = () => {
    const box = $('#show-now');
    const show = room.presentations;
    const current = show && show.current;
    box.hidden = !current;
    if (!current) return;
    const ours = current.team === room.teamId;
    const next = nextPresenter(show);
    setChildren(
      box,
      h('h3', { text: t('show.title') }),
      h('p', {}, h('strong', { text: ours ? t('show.oursPresenting') : t('show.presenting', { name: room.teamName(current.team) }) }), ` · ${next ? t('show.nextIs', { name: room.teamName(next) }) : t('show.lastTeam')}`),
      h(
        'ol',
        { class: 'running-order', 'aria-label': t('show.order') },
        show.order.map((team, index) =>
          h(
            'li',
            { class: index === current.index ? 'current' : index < current.index ? 'done' : null, 'aria-current': index === current.index ? 'step' : null },
            room.teamName(team),
            team === room.teamId ? ` (${t('teams.yours')})` : '',
            index === current.index ? h('strong', { text: ` · ${t('show.presentingNow')}` }) : index < current.index ? ` · ${t('show.done')}` : team === next ? ` · ${t('show.next')}` : '',
          ),
        ),
      ),
    );
  };
  setInterval(() => {
    // The phases' "Now" and "in 12 min" move on by themselves.
    if (room.section === 'schedule' && document.visibilityState !== 'hidden' && Math.floor(Date.now() / 1000) % 15 === 0) render();
  }, 1000);
  onLanguageChange(render);
  return { render };
}
