// organiser/briefs.js: the console's Briefs: every brief, the partners' and the teams' working
// versions (under their team), each to read and to edit (BriefEditor in views.js: an edit names its
// revision, and a conflict is shown plainly); and adding a brief.

import { briefList } from '../state.js';
import { $, announce, formatTime, h, setChildren } from '../ui.js';
import { BriefEditor, renderMarkdown, replaceKeepingFocus } from '../views.js';
import { onLanguageChange, t } from '../i18n.js';

/** Sets up the Briefs section. Returns `render()` and `briefsChanged()`, for each change of `briefs`. */
export function briefsSection(organiser) {
  const { client } = organiser;
  const briefsMessage = $('#briefs-message');
  let editing = null; // {id, editor}
  const render = () => {
    if (!organiser.briefs) return;
    const rows = briefList(organiser.briefs).map((brief) => {
      const fork = brief.forked_from ? organiser.briefs.briefs[brief.forked_from.brief] : null;
      const last = brief.history[brief.history.length - 1];
      const usedBy = organiser.roster ? Object.values(organiser.roster.teams).filter((t) => t.brief === brief.id && !t.archived) : [];
      const node = h(
        'li',
        { class: brief.team ? 'brief-row fork' : 'brief-row', 'data-brief': brief.id },
        h('h3', {}, brief.title, brief.title_cy ? h('span', { class: 'second-language', lang: 'cy', text: ` / ${brief.title_cy}` }) : null),
        h(
          'p',
          { class: 'hint' },
          brief.team ? `${t('org.forkOf', { team: organiser.teamName(brief.team), title: fork ? fork.title : t('org.aBrief'), revision: brief.forked_from.revision })} · ` : `${brief.partner} · `,
          t('org.revisionBy', { revision: brief.revision, time: formatTime(last.ts), name: organiser.nameOf(last.by) || t('board.someone') }),
          usedBy.length ? ` · ${t('org.teamsUsing', { teams: usedBy.map((team) => team.name).join(', ') })}` : '',
        ),
      );
      if (editing && editing.id === brief.id) {
        node.append(editing.editor.node);
      } else {
        node.append(
          h(
            'details',
            { class: 'brief-text' },
            h('summary', {}, t('org.read')),
            h('div', { class: 'md' }, renderMarkdown(brief.body)),
          ),
          h('div', { class: 'tool-group' }, h('button', { type: 'button', class: 'secondary', 'data-focus': `edit:${brief.id}`, 'aria-label': brief.team ? t('org.editFork', { title: brief.title, team: organiser.teamName(brief.team) }) : t('brief.editNamed', { title: brief.title }), onclick: () => openEditor(brief) }, t('form.edit'))),
        );
      }
      return node;
    });
    // An editor keeps its node (and so what is typed in it) across redraws.
    replaceKeepingFocus($('#brief-admin'), rows.length ? rows : [h('li', { class: 'hint', text: t('brief.none') })], $('#briefs-title'));
    const teamBrief = $('#team-brief');
    const chosen = teamBrief.value;
    setChildren(teamBrief, h('option', { value: '', text: t('teams.noBrief') }), ...briefList(organiser.briefs).filter((b) => !b.team).map((b) => h('option', { value: b.id, text: b.title })));
    teamBrief.value = chosen;
  };
  $('#briefs-title').tabIndex = -1;
  const openEditor = (brief) => {
    const editor = new BriefEditor({
      client,
      brief,
      latest: () => organiser.briefs && organiser.briefs.briefs[brief.id],
      names: organiser.nameOf,
      onClose: (saved) => {
        editing = null;
        render();
        const edit = $(`#brief-admin [data-focus="edit:${brief.id}"]`);
        if (edit) edit.focus();
        if (saved) announce(t('org.briefSaved'));
      },
    });
    editing = { id: brief.id, editor };
    render();
    editor.focus();
  };
  $('#brief-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const command = { type: 'brief.create', title: $('#brief-title').value.trim(), partner: $('#brief-partner').value.trim(), body: $('#brief-body').value };
    const titleCy = $('#brief-title-cy').value.trim();
    if (titleCy) command.title_cy = titleCy;
    organiser.send('briefs', command, briefsMessage, t('org.do.addBrief')).done.then(() => {
      for (const id of ['#brief-title', '#brief-title-cy', '#brief-partner', '#brief-body']) $(id).value = '';
      announce(t('org.briefAdded'));
    }, () => {});
  });

  /** An open editor hears of saves made meanwhile. */
  const briefsChanged = () => {
    if (editing) editing.editor.update();
  };
  onLanguageChange(() => {
    if (!editing) render();
  });
  return { render, briefsChanged };
}
