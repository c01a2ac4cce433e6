// organiser/schedule.js: the console's Schedule: the phases with their times and which is now; add,
// edit and delete phases. Times are typed in the organiser's own time zone, to the minute.

import { scheduleAt } from '../state.js';
import { $, formatTime, fromLocalInput, h, toLocalInput } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';
import { onLanguageChange, t } from '../i18n.js';

/** Sets up the Schedule section; returns `render()`. "Now" moves on by itself every 30 s. */
export function scheduleSection(organiser) {
  const { client } = organiser;
  let editingPhase = null;
  const scheduleMessage = $('#schedule-message');
  const phaseForm = (phase) => {
    const id = phase ? phase.id : 'new';
    const title = h('input', { id: `phase-${id}-title`, maxlength: '80', required: true, value: phase.title });
    const starts = h('input', { id: `phase-${id}-start`, type: 'datetime-local', required: true, value: toLocalInput(phase.starts_at) });
    const ends = h('input', { id: `phase-${id}-end`, type: 'datetime-local', required: true, value: toLocalInput(phase.ends_at) });
    const done = () => {
      editingPhase = null;
      render();
      const edit = $(`#phase-admin [data-focus="edit:${phase.id}"]`);
      if (edit) edit.focus();
    };
    return h(
      'form',
      {
        class: 'phase-form',
        'data-phase': phase.id,
        onsubmit: (event) => {
          event.preventDefault();
          const startsAt = fromLocalInput(starts.value);
          const endsAt = fromLocalInput(ends.value);
          if (startsAt === null || endsAt === null || endsAt <= startsAt) {
            scheduleMessage.textContent = t('org.phaseEndAfter');
            return;
          }
          const command = { type: 'phase.edit', phase: phase.id, title: title.value.trim() };
          // Unchanged times keep their seconds.
          if (starts.value !== toLocalInput(phase.starts_at)) command.starts_at = startsAt;
          if (ends.value !== toLocalInput(phase.ends_at)) command.ends_at = endsAt;
          organiser.send('schedule', command, scheduleMessage, t('org.do.changePhase'));
          done();
        },
        onkeydown: (event) => event.key === 'Escape' && done(),
      },
      h('div', { class: 'field' }, h('label', { for: title.id, text: t('form.title') }), title),
      h('div', { class: 'field' }, h('label', { for: starts.id, text: t('org.starts') }), starts),
      h('div', { class: 'field' }, h('label', { for: ends.id, text: t('org.ends') }), ends),
      h('div', { class: 'tool-group' }, h('button', { type: 'submit' }, t('form.save')), h('button', { type: 'button', class: 'secondary', onclick: done }, t('form.cancel'))),
    );
  };
  const render = () => {
    if (!organiser.schedule) return;
    const { when } = scheduleAt(organiser.schedule, client.serverNow());
    const editor = $('#phase-admin .phase-form');
    if (editor && editor.dataset.phase === editingPhase && organiser.schedule.phases.some((p) => p.id === editingPhase)) return; // typing wins; redrawn after
    const rows = organiser.schedule.phases.map((p) =>
      h(
        'li',
        { class: `phase ${when(p)}`, 'aria-current': when(p) === 'now' ? 'time' : null },
        editingPhase === p.id
          ? phaseForm(p)
          : [
              h('span', { class: 'phase-time', text: `${formatTime(p.starts_at)} – ${formatTime(p.ends_at)}` }),
              h('span', { class: 'phase-title' }, p.title, when(p) === 'now' ? h('strong', { text: ` · ${t('org.now')}` }) : null),
              h(
                'span',
                { class: 'tool-group' },
                h('button', { type: 'button', class: 'secondary', 'data-focus': `edit:${p.id}`, 'aria-label': t('brief.editNamed', { title: p.title }), onclick: () => ((editingPhase = p.id), render(), $('#phase-admin .phase-form input').focus()) }, t('form.edit')),
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'secondary danger',
                    'data-focus': `delete:${p.id}`,
                    'aria-label': t('org.deleteNamed', { title: p.title }),
                    onclick: () => window.confirm(t('org.confirmDeletePhase', { title: p.title })) && organiser.send('schedule', { type: 'phase.delete', phase: p.id }, scheduleMessage, t('org.do.deletePhase')),
                  },
                  t('form.delete'),
                ),
              ),
            ],
      ),
    );
    replaceKeepingFocus($('#phase-admin'), rows.length ? rows : [h('li', { class: 'hint', text: t('org.noPhases') })], $('#schedule-title'));
  };
  $('#schedule-title').tabIndex = -1;
  $('#phase-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const startsAt = fromLocalInput($('#phase-start').value);
    const endsAt = fromLocalInput($('#phase-end').value);
    if (startsAt === null || endsAt === null || endsAt <= startsAt) {
      scheduleMessage.textContent = t('org.phaseEndAfter');
      return;
    }
    organiser.send('schedule', { type: 'phase.add', title: $('#phase-title').value.trim(), starts_at: startsAt, ends_at: endsAt }, scheduleMessage, t('org.do.addPhase'));
    $('#phase-title').value = '';
    $('#phase-title').focus();
  });
  // The schedule's "now" moves on by itself.
  setInterval(render, 30000);
  onLanguageChange(render);
  return { render };
}
