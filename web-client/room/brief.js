// room/brief.js: the room's Brief section: the team's brief (or any other, picked at the top),
// rendered from Markdown, with its revision history, where any revision can be read. "Make our
// working version" forks the partner's brief for the team, whose members can then edit it
// (BriefEditor in views.js, which handles edits made meanwhile).

import { briefList, revisionText, workingVersion } from '../state.js';
import { $, announce, formatTime, h, setChildren } from '../ui.js';
import { BriefEditor, renderMarkdown, replaceKeepingFocus } from '../views.js';
import { errorText, langOf, localText, onLanguageChange, t } from '../i18n.js';

/**
 * Sets up the Brief section. Returns `render()`, `briefsChanged(detail)` (after each change of the
 * briefs channel) and `reset()` (after a team change: the team's own brief again).
 */
export function briefSection(room) {
  const { client, me } = room;
  let briefPick = null; // the brief picked by hand, else the team's
  let reading = null; // {brief, revision, title, body} of an old revision being read
  let forking = null; // the original brief whose working version was asked for
  const revisions = new Map(); // briefs offset -> {title, body}
  let editor = null;
  const defaultBrief = () => {
    if (!room.briefs) return null;
    const team = room.teamOf(room.teamId);
    if (team && team.brief) return workingVersion(room.briefs, room.teamId, team.brief) || room.briefs.briefs[team.brief] || null;
    const own = briefList(room.briefs).find((b) => b.team === room.teamId && room.teamId);
    return own || briefList(room.briefs).find((b) => !b.team) || null;
  };
  const shownBrief = () => (room.briefs && briefPick && room.briefs.briefs[briefPick]) || defaultBrief();
  const titleOf = (brief) => localText(brief.title, brief.title_cy);
  const briefLabel = (brief) =>
    brief.team ? t(brief.team === room.teamId ? 'brief.ourVersionOf' : 'brief.theirVersionOf', { title: titleOf(brief).text, team: room.teamName(brief.team) }) : titleOf(brief).text;
  $('#brief-pick').addEventListener('change', (event) => {
    briefPick = event.target.value;
    reading = null;
    render();
  });
  const readRevision = async (brief, entry) => {
    $('#brief-message').textContent = '';
    let text = revisions.get(entry.offset);
    if (!text) {
      try {
        const result = await client.history('briefs', { before: entry.offset + 1, limit: 1 });
        const record = result.publications.find((p) => p.offset === entry.offset);
        text = revisionText(record);
        if (!text) throw Object.assign(new Error('that revision was not found'), { code: 'not_found' });
        revisions.set(entry.offset, text);
      } catch (err) {
        $('#brief-message').textContent = `${t('brief.revisionFailed', { revision: entry.revision })} ${errorText(err)}`;
        return;
      }
    }
    reading = { brief: brief.id, revision: entry.revision, entry, ...text };
    render();
    const banner = $('#brief .reading');
    if (banner) banner.focus();
  };
  const render = () => {
    const article = $('#brief');
    if (!room.briefs) {
      setChildren(article, h('p', { class: 'empty', text: t('brief.loading') }));
      return;
    }
    const all = briefList(room.briefs);
    const brief = shownBrief();
    const pick = $('#brief-pick');
    const options = all.map((b) => h('option', { value: b.id, text: briefLabel(b) }));
    setChildren(pick, ...options);
    if (brief) pick.value = brief.id;
    if (!brief) {
      setChildren(article, h('p', { class: 'empty', text: t('brief.none') }));
      return;
    }
    if (reading && reading.brief !== brief.id) reading = null;
    const original = brief.forked_from ? room.briefs.briefs[brief.forked_from.brief] : null;
    const ours = brief.team && brief.team === room.teamId;
    const fork = room.teamId && !brief.team ? workingVersion(room.briefs, room.teamId, brief.id) : null;
    const canEdit = ours || (brief.owner && brief.owner === me.id);
    const last = brief.history[brief.history.length - 1];
    const actions = [];
    if (room.teamId && !brief.team && !fork) {
      const waiting = forking === brief.id || client.outbox.some((e) => e.channel === 'briefs' && e.command && e.command.type === 'brief.fork' && e.command.brief === brief.id);
      actions.push(
        h(
          'button',
          {
            type: 'button',
            'data-focus': 'fork',
            disabled: waiting,
            onclick: () => {
              forking = brief.id;
              $('#brief-message').textContent = '';
              const entry = client.command('briefs', { type: 'brief.fork', brief: brief.id });
              entry.done.catch((err) => {
                forking = null;
                $('#brief-message').textContent = `${t('brief.forkFailed')} ${errorText(err)}`;
                render();
              });
              render();
            },
          },
          waiting ? t('brief.forking') : t('brief.fork'),
        ),
      );
    }
    if (fork) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'open-fork', onclick: () => ((briefPick = fork.id), render()) }, t('brief.openFork')));
    }
    if (original) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'open-original', onclick: () => ((briefPick = original.id), render()) }, t('brief.readOriginal')));
    }
    if (canEdit && !editor) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'edit', onclick: () => openEditor(brief) }, ours ? t('brief.editFork') : t('brief.edit')));
    }
    const history = h(
      'details',
      { class: 'history' },
      h('summary', {}, t('brief.history', { count: brief.history.length })),
      h(
        'ul',
        {},
        [...brief.history].reverse().map((entry) =>
          h(
            'li',
            {},
            h('span', {}, `${t('brief.revision', { revision: entry.revision })} · `, h('time', { datetime: new Date(entry.ts).toISOString(), text: formatTime(entry.ts) }), ` · ${room.nameOf(entry.by) || t('board.someone')}`),
            entry.revision === brief.revision
              ? h('span', { class: 'current-mark', text: ` (${t('brief.current')})` })
              : h('button', { type: 'button', class: 'link', 'data-focus': `rev:${entry.revision}`, onclick: () => readRevision(brief, entry) }, t('brief.readRevision', { revision: entry.revision })),
          ),
        ),
      ),
    );
    if (reading) history.open = true;
    const showing = reading
      ? [
          h(
            'div',
            { class: 'reading notice', tabindex: '-1' },
            h('p', {}, h('strong', { text: t('brief.reading', { revision: reading.revision, of: brief.revision }) }), t('brief.notCurrent')),
            h('button', { type: 'button', class: 'secondary', 'data-focus': 'back', onclick: () => ((reading = null), render()) }, t('brief.back')),
          ),
          h('h3', { class: 'old-title', text: localText(reading.title, reading.title_cy).text, lang: langOf(localText(reading.title, reading.title_cy).lang) }),
          h('div', { class: 'md old' }, renderMarkdown(reading.body)),
        ]
      : [h('div', { class: 'md' }, brief.body ? renderMarkdown(brief.body) : h('p', { class: 'hint', text: t('brief.noText') }))];
    replaceKeepingFocus(
      article,
      [
        h('h2', { class: 'brief-title', text: titleOf(brief).text, lang: langOf(titleOf(brief).lang) }),
        h('p', { class: 'partner' }, `${t('brief.from')} `, h('strong', { text: brief.partner })),
        ours ? h('p', { class: 'fork-note', text: t('brief.ourFork', { revision: brief.forked_from.revision }) }) : null,
        brief.team && !ours ? h('p', { class: 'fork-note', text: t('brief.theirFork', { team: room.teamName(brief.team) }) }) : null,
        h('p', { class: 'meta' }, `${t('brief.revision', { revision: brief.revision })} · ${t('brief.updated')} `, h('time', { datetime: new Date(last.ts).toISOString(), text: formatTime(last.ts) }), ` ${t('brief.by', { name: room.nameOf(last.by) || t('board.someone') })}`),
        actions.length ? h('div', { class: 'tool-group' }, actions) : null,
        editor ? editor.node : null,
        ...(editor ? [] : showing),
        history,
      ],
    );
  };
  const openEditor = (brief) => {
    editor = new BriefEditor({
      client,
      brief,
      latest: () => room.briefs && room.briefs.briefs[brief.id],
      names: room.nameOf,
      onClose: () => {
        editor = null;
        render();
        const edit = $('#brief [data-focus="edit"]');
        if (edit) edit.focus();
      },
    });
    render();
    editor.focus();
  };

  /** The working version asked for has come: show it. */
  const briefsChanged = (detail) => {
    const data = detail && detail.publication && detail.publication.data;
    if (data && data.type === 'forked' && data.team === room.teamId && forking && data.from.brief === forking) {
      forking = null;
      briefPick = data.brief.id;
      announce(t('brief.forkReady'));
    }
    if (editor) editor.update();
  };
  const reset = () => {
    briefPick = null;
    reading = null;
    if (editor) editor = null;
  };
  onLanguageChange(() => {
    if (!editor) render(); // an open editor keeps what is typed; the rest follows once it closes
  });
  return { render, briefsChanged, reset };
}
