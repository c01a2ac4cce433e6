// organiser/help.js: the console's Help queue: open and claimed requests, oldest first, to claim,
// release and resolve; closed ones folded away. A new request is read out to screen readers.

import { isOpenRequest } from '../state.js';
import { $, announce, formatTime, h, setChildren } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';
import { onLanguageChange, t } from '../i18n.js';

/** Sets up the Help queue. Returns `render()` and `changed(detail)`, for each change of `help`. */
export function helpQueue(organiser) {
  const render = () => {
    if (!organiser.help) return;
    const open = organiser.help.requests.filter(isOpenRequest).sort((a, b) => a.asked_at - b.asked_at);
    const closed = organiser.help.requests.filter((r) => !isOpenRequest(r)).sort((a, b) => b.closed_at - a.closed_at);
    $('#nav-help-count').textContent = open.length ? `(${open.length})` : '';
    const row = (r) =>
      h(
        'li',
        { class: `request ${r.status}`, 'data-request': r.id },
        h('p', { class: 'topic' }, h('strong', { text: organiser.teamName(r.team) }), `: ${r.topic}`),
        h('p', { class: 'hint' }, r.location ? `${r.location} · ` : '', t('org.askedBy', { time: formatTime(r.asked_at), name: organiser.nameOf(r.asked_by) || t('board.someone') })),
        h(
          'p',
          { class: 'request-status' },
          r.status === 'open' ? `○ ${t('org.waiting')}` : r.status === 'claimed' ? `● ${t('board.onIt', { name: organiser.nameOf(r.claimed_by) || t('brief.someone') })}` : r.status === 'resolved' ? `✓ ${t('org.resolvedAt', { time: formatTime(r.closed_at) })}` : t('org.cancelledAt', { time: formatTime(r.closed_at) }),
        ),
        isOpenRequest(r)
          ? h(
              'div',
              { class: 'tool-group' },
              r.status === 'open' ? h('button', { type: 'button', 'data-focus': `claim:${r.id}`, 'aria-label': `${t('org.claim')}: ${r.topic}`, onclick: () => organiser.send('help', { type: 'help.claim', request: r.id }, $('#message'), t('org.do.claim')) }, t('org.claim')) : null,
              r.status === 'claimed' && r.claimed_by === organiser.me.id
                ? h('button', { type: 'button', class: 'secondary', 'data-focus': `release:${r.id}`, 'aria-label': `${t('org.release')}: ${r.topic}`, onclick: () => organiser.send('help', { type: 'help.release', request: r.id }, $('#message'), t('org.do.release')) }, t('org.release'))
                : null,
              h('button', { type: 'button', class: 'secondary', 'data-focus': `resolve:${r.id}`, 'aria-label': `${t('org.resolve')}: ${r.topic}`, onclick: () => organiser.send('help', { type: 'help.resolve', request: r.id }, $('#message'), t('org.do.resolve')) }, t('org.resolve')),
            )
          : null,
      );
    replaceKeepingFocus($('#help-list'), open.map(row), $('#help-title'));
    $('#help-empty').hidden = open.length > 0;
    $('#help-closed').hidden = closed.length === 0;
    $('#help-closed summary').textContent = t('org.closedCount', { count: closed.length });
    setChildren($('#help-closed-list'), ...closed.slice(0, 30).map(row));
  };
  $('#help-title').tabIndex = -1;

  /** A change of the help channel: redrawn, and a new request is said. */
  const changed = (detail) => {
    render();
    const data = detail && detail.publication && detail.publication.data;
    if (data && data.type === 'asked') announce(t('org.asksForHelp', { team: organiser.teamName(data.team), topic: data.topic }));
  };
  onLanguageChange(render);
  return { render, changed };
}
