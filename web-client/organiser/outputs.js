// organiser/outputs.js: the console's Outputs: what each team made, with its photos, links, next
// steps and who carries it on, and who saved it when. An organiser edits any open team's with the
// same form the phones use (output-editor.js), for a team that has no phone to hand or a typo to
// fix; links open only when they are http(s). The console's words are the catalogues' (`org.output…`,
// the form's `output.…`); what the teams wrote keeps the event's `lang`.

import { $, formatTime, h, setChildren } from '../ui.js';
import { OutputEditor, photoUrl } from '../output-editor.js';
import { eventTextLang, onLanguageChange, t } from '../i18n.js';

/** Sets up the Outputs section; returns `render()`. */
export function outputsSection(organiser) {
  const editors = new Map(); // team id -> OutputEditor, while open
  const safeLink = (url) => (/^https?:\/\//.test(url) ? h('a', { href: url, rel: 'noopener noreferrer', target: '_blank', text: url }) : url);
  const editorFor = (team) => {
    if (!editors.has(team.id)) {
      editors.set(
        team.id,
        new OutputEditor({
          idPrefix: `output-${team.id}`,
          eventId: organiser.eventId,
          team: team.id,
          getToken: async () => (await organiser.source()).token,
          isOnline: () => organiser.client.status === 'online',
          save: (fields) => organiser.client.command('outputs', { type: 'output.save', team: team.id, ...fields }).done,
          nameOf: organiser.nameOf,
        }),
      );
    }
    return editors.get(team.id);
  };
  let redrawWhenDone = false;
  const render = () => {
    if (!organiser.outputs || !organiser.roster) return;
    // Someone is typing in a form: redrawing the list would take their focus. The open forms hear
    // of the change now; the list is drawn again once the focus leaves them.
    const typing = [...editors.values()].find((editor) => editor.element.contains(document.activeElement));
    if (typing) {
      for (const [team, editor] of editors) editor.show(organiser.outputs.outputs[team] || null);
      if (!redrawWhenDone) {
        redrawWhenDone = true;
        typing.element.addEventListener(
          'focusout',
          () =>
            setTimeout(() => {
              redrawWhenDone = false;
              render();
            }),
          { once: true },
        );
      }
      return;
    }
    const teams = Object.values(organiser.roster.teams)
      .filter((t) => !t.archived || organiser.outputs.outputs[t.id])
      .sort((a, b) => a.name.localeCompare(b.name));
    setChildren(
      $('#output-list'),
      ...teams.map((team) => {
        const out = organiser.outputs.outputs[team.id] || null;
        const editor = editors.get(team.id);
        if (editor) editor.show(out);
        const toggle = team.archived
          ? null
          : h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                'aria-expanded': editor ? 'true' : 'false',
                'data-edit-output': team.id,
                onclick: () => {
                  if (editors.has(team.id)) {
                    editors.get(team.id).close();
                    editors.delete(team.id);
                  }
                  else editorFor(team);
                  render();
                  const opened = editors.get(team.id);
                  if (opened) opened.title.focus();
                },
              },
              editor ? t('org.outputClose') : t(out ? 'org.outputEdit' : 'org.outputRecord', { team: team.name }),
            );
        const lang = eventTextLang(); // the teams' own words are in the event's language
        const label = (key) => h('strong', { text: `${t(key)} ` });
        const shown = out
          ? [
              h('h3', {}, h('span', { text: team.name, lang }), ': ', h('span', { text: out.title, lang })),
              out.description ? h('p', { class: 'output-text', text: out.description, lang }) : null,
              out.photos.length
                ? h('p', { class: 'output-photos' }, ...out.photos.map((id, i) => h('a', { href: photoUrl(organiser.eventId, id), target: '_blank', rel: 'noopener noreferrer' }, h('img', { src: photoUrl(organiser.eventId, id), alt: t('org.outputPhotoAlt', { team: team.name, n: i + 1 }), loading: 'lazy' }))))
                : null,
              out.links.length ? h('p', {}, `${t('org.outputLinks')} `, ...out.links.flatMap((url, i) => [i ? ', ' : '', safeLink(url)])) : null,
              out.next_steps ? h('p', { class: 'output-text' }, label('org.outputNextSteps'), h('span', { text: out.next_steps, lang })) : null,
              out.carried_on_by.length ? h('p', {}, label('org.outputCarriedOnBy'), h('span', { text: out.carried_on_by.join(', '), lang })) : null,
              h('p', { class: 'hint', text: t('org.outputSaved', { when: formatTime(out.updated_at), who: organiser.nameOf(out.updated_by) || t('output.someone') }) }),
            ]
          : [h('h3', { text: team.name, lang }), h('p', { class: 'hint', text: t('org.outputNothing') })];
        return h('li', { class: out ? 'output' : 'output none', 'data-team': team.id }, ...shown, toggle, editor ? editor.element : null);
      }),
    );
  };
  // The list is drawn again in the new language (the open forms redraw their own words).
  onLanguageChange(render);
  return { render };
}
