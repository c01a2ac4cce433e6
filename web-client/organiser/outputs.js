// organiser/outputs.js: the console's Outputs: what each team made, with its photos, links, next
// steps and who carries it on, and who saved it when. An organiser edits any open team's with the
// same form the phones use (output-editor.js), for a team that has no phone to hand or a typo to
// fix; links open only when they are http(s).

import { $, formatTime, h, setChildren } from '../ui.js';
import { OutputEditor, photoUrl } from '../output-editor.js';

const TEXT = {
  nothing: 'Nothing recorded yet.',
  edit: (team) => `Edit what ${team} made`,
  record: (team) => `Record what ${team} made`,
  close: 'Close the form',
  links: 'Links: ',
  nextSteps: 'Next steps: ',
  carriedOnBy: 'Carried on by: ',
  saved: (when, who) => `Saved ${when} by ${who}`,
  photoAlt: (team, n) => `Photo ${n} of what ${team} made`,
};

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
                  if (editors.has(team.id)) editors.delete(team.id);
                  else editorFor(team);
                  render();
                  const opened = editors.get(team.id);
                  if (opened) opened.title.focus();
                },
              },
              editor ? TEXT.close : out ? TEXT.edit(team.name) : TEXT.record(team.name),
            );
        const shown = out
          ? [
              h('h3', {}, `${team.name}: `, h('span', { text: out.title })),
              out.description ? h('p', { class: 'output-text', text: out.description }) : null,
              out.photos.length
                ? h('p', { class: 'output-photos' }, ...out.photos.map((id, i) => h('a', { href: photoUrl(organiser.eventId, id), target: '_blank', rel: 'noopener noreferrer' }, h('img', { src: photoUrl(organiser.eventId, id), alt: TEXT.photoAlt(team.name, i + 1), loading: 'lazy' }))))
                : null,
              out.links.length ? h('p', {}, TEXT.links, ...out.links.flatMap((url, i) => [i ? ', ' : '', safeLink(url)])) : null,
              out.next_steps ? h('p', { class: 'output-text' }, h('strong', { text: TEXT.nextSteps }), out.next_steps) : null,
              out.carried_on_by.length ? h('p', {}, h('strong', { text: TEXT.carriedOnBy }), out.carried_on_by.join(', ')) : null,
              h('p', { class: 'hint', text: TEXT.saved(formatTime(out.updated_at), organiser.nameOf(out.updated_by) || 'someone') }),
            ]
          : [h('h3', { text: team.name }), h('p', { class: 'hint', text: TEXT.nothing })];
        return h('li', { class: out ? 'output' : 'output none', 'data-team': team.id }, ...shown, toggle, editor ? editor.element : null);
      }),
    );
  };
  return { render };
}
