// organiser/outputs.js: the console's Outputs: what each team made, with its links, photos, next
// steps and who carries it on; links open only when they are http(s).

import { $, formatTime, h, setChildren } from '../ui.js';

/** Sets up the Outputs section; returns `render()`. */
export function outputsSection(organiser) {
  const render = () => {
    if (!organiser.outputs || !organiser.roster) return;
    const teams = Object.values(organiser.roster.teams)
      .filter((t) => !t.archived || organiser.outputs.outputs[t.id])
      .sort((a, b) => a.name.localeCompare(b.name));
    const safeLink = (url) => (/^https?:\/\//.test(url) ? h('a', { href: url, rel: 'noopener noreferrer', target: '_blank', text: url }) : url);
    setChildren(
      $('#output-list'),
      ...teams.map((team) => {
        const out = organiser.outputs.outputs[team.id];
        if (!out) return h('li', { class: 'output none' }, h('h3', { text: team.name }), h('p', { class: 'hint', text: 'Nothing recorded yet.' }));
        return h(
          'li',
          { class: 'output' },
          h('h3', {}, `${team.name}: `, h('span', { text: out.title })),
          out.description ? h('p', { class: 'output-text', text: out.description }) : null,
          out.links.length ? h('p', {}, 'Links: ', ...out.links.flatMap((url, i) => [i ? ', ' : '', safeLink(url)])) : null,
          out.photos.length ? h('p', {}, 'Photos: ', ...out.photos.flatMap((url, i) => [i ? ', ' : '', safeLink(url)])) : null,
          out.next_steps ? h('p', { class: 'output-text' }, h('strong', { text: 'Next steps: ' }), out.next_steps) : null,
          out.carried_on_by.length ? h('p', {}, h('strong', { text: 'Carried on by: ' }), out.carried_on_by.join(', ')) : null,
          h('p', { class: 'hint', text: `Saved ${formatTime(out.updated_at)} by ${organiser.nameOf(out.updated_by) || 'someone'}` }),
        );
      }),
    );
  };
  return { render };
}
