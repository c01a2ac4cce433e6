// room/brief.js: the room's Brief section: the team's brief (or any other, picked at the top),
// rendered from Markdown, with its revision history, where any revision can be read. "Make our
// working version" forks the partner's brief for the team, whose members can then edit it
// (BriefEditor in views.js, which handles edits made meanwhile).

import { briefList, revisionText, workingVersion } from '../state.js';
import { $, announce, formatTime, h, setChildren } from '../ui.js';
import { BriefEditor, renderMarkdown, replaceKeepingFocus } from '../views.js';

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
  const briefLabel = (brief) => (brief.team ? `${brief.title} (${brief.team === room.teamId ? 'your team' : room.teamName(brief.team)}'s version)` : brief.title);
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
        if (!text) throw new Error('that revision was not found');
        revisions.set(entry.offset, text);
      } catch (err) {
        $('#brief-message').textContent = `Could not load revision ${entry.revision}: ${err.message}. Try again when you are online.`;
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
      setChildren(article, h('p', { class: 'empty', text: 'Loading the briefs…' }));
      return;
    }
    const all = briefList(room.briefs);
    const brief = shownBrief();
    const pick = $('#brief-pick');
    const options = all.map((b) => h('option', { value: b.id, text: briefLabel(b) }));
    setChildren(pick, ...options);
    if (brief) pick.value = brief.id;
    if (!brief) {
      setChildren(article, h('p', { class: 'empty', text: 'No briefs yet.' }));
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
                $('#brief-message').textContent = `Could not make a working version: ${err.message}.`;
                render();
              });
              render();
            },
          },
          waiting ? 'Making your working version…' : 'Make our working version',
        ),
      );
    }
    if (fork) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'open-fork', onclick: () => ((briefPick = fork.id), render()) }, 'Open our working version'));
    }
    if (original) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'open-original', onclick: () => ((briefPick = original.id), render()) }, 'Read the original'));
    }
    if (canEdit && !editor) {
      actions.push(h('button', { type: 'button', class: 'secondary', 'data-focus': 'edit', onclick: () => openEditor(brief) }, ours ? 'Edit our working version' : 'Edit this brief'));
    }
    const history = h(
      'details',
      { class: 'history' },
      h('summary', {}, `Revision history (${brief.history.length} ${brief.history.length === 1 ? 'revision' : 'revisions'})`),
      h(
        'ul',
        {},
        [...brief.history].reverse().map((entry) =>
          h(
            'li',
            {},
            h('span', {}, `Revision ${entry.revision} · `, h('time', { datetime: new Date(entry.ts).toISOString(), text: formatTime(entry.ts) }), ` · ${room.nameOf(entry.by) || 'someone'}`),
            entry.revision === brief.revision
              ? h('span', { class: 'current-mark', text: ' (current)' })
              : h('button', { type: 'button', class: 'link', 'data-focus': `rev:${entry.revision}`, onclick: () => readRevision(brief, entry) }, `Read revision ${entry.revision}`),
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
            h('p', {}, h('strong', { text: `You are reading revision ${reading.revision} of ${brief.revision}` }), ', not the current text.'),
            h('button', { type: 'button', class: 'secondary', 'data-focus': 'back', onclick: () => ((reading = null), render()) }, 'Back to the current text'),
          ),
          h('h3', { class: 'old-title', text: reading.title }),
          h('div', { class: 'md old' }, renderMarkdown(reading.body)),
        ]
      : [h('div', { class: 'md' }, brief.body ? renderMarkdown(brief.body) : h('p', { class: 'hint', text: 'This brief has no text yet.' }))];
    replaceKeepingFocus(
      article,
      [
        h('h2', { class: 'brief-title', text: brief.title }),
        h('p', { class: 'partner' }, 'Brief from ', h('strong', { text: brief.partner })),
        ours ? h('p', { class: 'fork-note', text: `Your team's working version, copied from revision ${brief.forked_from.revision} of the original. The original stays as the partner wrote it.` }) : null,
        brief.team && !ours ? h('p', { class: 'fork-note', text: `${room.teamName(brief.team)}'s working version of the original.` }) : null,
        h('p', { class: 'meta' }, `Revision ${brief.revision} · updated `, h('time', { datetime: new Date(last.ts).toISOString(), text: formatTime(last.ts) }), ` by ${room.nameOf(last.by) || 'someone'}`),
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
      announce('Your team\'s working version is ready.');
    }
    if (editor) editor.update();
  };
  const reset = () => {
    briefPick = null;
    reading = null;
    if (editor) editor = null;
  };
  return { render, briefsChanged, reset };
}
