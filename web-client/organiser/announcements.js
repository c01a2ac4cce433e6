// organiser/announcements.js: the console's Announcements: post one, normal or urgent, pinned at
// once or not; the posted ones, newest first, to pin and unpin, edit (`announcement.edit`: the text,
// urgency and pin, in place) and retract (`announcement.retract`, after asking), with how many
// participants have acknowledged each urgent one; retracted ones stay listed, marked, for the record.
// Posts go as the command `announcement.post`, or as a published message to servers that take them
// that way.

import { AnnouncementFeed } from '../announcements.js';
import { $, announce, formatTime, h } from '../ui.js';
import { replaceKeepingFocus } from '../views.js';
import { errorText, langOf, localText, onLanguageChange, t } from '../i18n.js';

const SHOWN = 30; // announcements listed

/** An announcement's words in the reader's language, for labels. */
const shownText = (item) => localText(item.text, item.text_cy).text;

/** Sets up the Announcements section. Returns `render()` and `start()` (subscribes). */
export function announcementsSection(organiser) {
  const { client } = organiser;
  const body = (entry) => (entry.op === 'command' ? entry.command : entry.data) || {};
  const participantsCount = () => (organiser.roster ? Object.values(organiser.roster.participants).filter((p) => p.role === 'participant' && !p.removed).length : 0);
  // The one announcement being edited, with its editor: the same form node in every render, so that
  // what is typed, and the focus, outlive live changes to the list.
  let editor = null;
  const closeEditor = () => {
    const id = editor && editor.id;
    editor = null;
    render();
    const back = document.querySelector(`[data-focus="edit:${CSS.escape(id || '')}"]`);
    if (back) back.focus();
  };
  const openEditor = (item) => {
    const name = `edit-priority-${item.id}`;
    const text = h('textarea', { id: `edit-text-${item.id}`, rows: '3', maxlength: '500', required: '' });
    text.value = item.text;
    const textCy = h('textarea', { id: `edit-text-cy-${item.id}`, rows: '3', maxlength: '500', lang: 'cy' });
    textCy.value = item.text_cy || '';
    const choice = (value, words) => {
      const input = h('input', { type: 'radio', name, value });
      input.checked = item.priority === value;
      return h('label', { class: 'choice' }, input, ` ${words}`);
    };
    const pin = h('input', { type: 'checkbox' });
    pin.checked = item.pinned;
    const message = h('p', { class: 'error', role: 'alert' });
    const form = h(
      'form',
      { class: 'announcement-edit', 'aria-label': t('org.editAnnouncement') },
      h('div', { class: 'field' }, h('label', { for: text.id, text: t('org.newText') }), text),
      h('div', { class: 'field' }, h('label', { for: textCy.id }, t('org.announcementCy'), ' ', h('span', { class: 'optional', text: t('form.optional') })), textCy),
      h('fieldset', {}, h('legend', { text: t('org.priority') }), h('div', { class: 'inline' }, choice('normal', t('org.normal')), choice('urgent', t('announcements.urgent')))),
      h('label', { class: 'choice' }, pin, ` ${t('announcements.pinned')}`),
      h('p', { class: 'hint', text: t('org.confirmAgain') }),
      message,
      h('div', { class: 'tool-group' }, h('button', { type: 'submit', text: t('org.saveChange') }), h('button', { type: 'button', class: 'secondary', text: t('form.cancel'), onclick: closeEditor })),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const now = feed.items({ retracted: true }).find((a) => a.id === item.id) || item;
      const priority = (form.querySelector(`input[name="${CSS.escape(name)}"]:checked`) || {}).value || now.priority;
      const change = { type: 'announcement.edit', announcement: item.id };
      if (text.value.trim() !== now.text) change.text = text.value.trim();
      if (textCy.value.trim() !== (now.text_cy || '')) change.text_cy = textCy.value.trim(); // "" removes it
      if (priority !== now.priority) change.priority = priority;
      if (pin.checked !== now.pinned) change.pinned = pin.checked;
      if (Object.keys(change).length === 2) {
        closeEditor();
        return;
      }
      if (change.text === '') {
        message.textContent = t('org.announcementEmpty');
        text.focus();
        return;
      }
      organiser.send('announcements', change, message, t('org.do.change'));
      closeEditor();
      announce(t('org.announcementChanged'));
    });
    editor = { id: item.id, form };
    render();
    text.focus();
  };
  const retract = (item) => {
    const sure = confirm(t('org.confirmRetract', { text: shownText(item).slice(0, 80) }));
    if (!sure) return;
    if (editor && editor.id === item.id) editor = null;
    organiser.send('announcements', { type: 'announcement.retract', announcement: item.id }, $('#message'), t('org.do.retract'));
    announce(t('org.retracted'));
  };
  const render = () => {
    const items = feed.items({ retracted: true }).slice(0, SHOWN);
    const pending = client.outbox.filter((entry) => entry.channel === 'announcements' && body(entry).text);
    const pinAction = (item) => {
      const pinned = item.pinned;
      const waiting = client.outbox.some((e) => e.channel === 'announcements' && e.command && e.command.announcement === item.id);
      return h(
        'button',
        {
          type: 'button',
          class: 'link',
          'data-focus': `pin:${item.id}`,
          'aria-label': `${pinned ? t('org.unpin') : t('org.pin')}: ${shownText(item).slice(0, 50)}`,
          onclick: () => waiting || organiser.send('announcements', { type: pinned ? 'announcement.unpin' : 'announcement.pin', announcement: item.id }, $('#message'), pinned ? t('org.do.unpin') : t('org.do.pin')),
        },
        pinned ? t('org.unpin') : t('org.pin'),
      );
    };
    const rows = [
      ...pending.map((entry) =>
        h('li', {}, body(entry).priority === 'urgent' ? h('strong', { text: `${t('announcements.urgent')}: ` }) : null, body(entry).text, h('span', { class: 'skills', text: t('chat.sending') })),
      ),
      ...items.map((item) => {
        const acks = item.acknowledged_by.length;
        const known = !String(item.id).startsWith('offset-');
        if (item.retracted) {
          return h(
            'li',
            { class: 'retracted-row', 'data-announcement': item.id },
            h('strong', { text: `${t('org.retractedTag')}: ` }),
            h('s', { text: item.text }),
            h('span', { class: 'skills', text: ` · ${t('org.takenBack', { time: formatTime(item.retracted.at), name: organiser.nameOf(item.retracted.by) || t('help.anOrganiser') })}` }),
          );
        }
        if (editor && editor.id === item.id) return h('li', { class: 'editing-row', 'data-announcement': item.id }, editor.form);
        const tool = (words, focus, label, onclick) => h('button', { type: 'button', class: 'link', 'data-focus': `${focus}:${item.id}`, 'aria-label': `${label}: ${shownText(item).slice(0, 50)}`, onclick }, words);
        return h(
          'li',
          { class: item.priority === 'urgent' ? 'urgent-row' : null, 'data-announcement': item.id },
          item.priority === 'urgent' ? h('strong', { text: `${t('announcements.urgent')}: ` }) : null,
          item.pinned ? h('strong', { text: `${t('announcements.pinned')}: ` }) : null,
          item.text,
          item.text_cy ? h('span', { class: 'second-language', lang: langOf('cy'), text: ` / ${item.text_cy}` }) : null,
          h(
            'span',
            { class: 'skills' },
            `${item.from ? item.from.name : organiser.nameOf(item.by) || t('announcements.organisers')} · `,
            h('time', { datetime: new Date(item.ts).toISOString(), text: formatTime(item.ts) }),
            item.edited ? ` · ${t('announcements.edited', { time: formatTime(item.edited.at) })}` : null,
            item.priority === 'urgent' ? h('strong', { class: 'ack-count', text: ` · ✓ ${t('org.acks', { count: acks, of: participantsCount() })}` }) : null,
          ),
          known
            ? h(
                'span',
                { class: 'announcement-tools' },
                pinAction(item),
                tool(t('form.edit'), 'edit', t('form.edit'), () => openEditor(item)),
                h('button', { type: 'button', class: 'link danger', 'data-focus': `retract:${item.id}`, 'aria-label': `${t('org.retract')}: ${shownText(item).slice(0, 50)}`, onclick: () => retract(item) }, t('org.retract')),
              )
            : null,
        );
      }),
    ];
    replaceKeepingFocus($('#announcement-list'), rows);
    $('#no-announcements').hidden = rows.length > 0;
  };
  $('#announce-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('#announcement-text').value.trim();
    if (!text) {
      $('#announcement-text').focus();
      return;
    }
    const textCy = $('#announcement-text-cy').value.trim() || undefined;
    const priority = (document.querySelector('input[name="priority"]:checked') || {}).value || 'normal';
    postAnnouncement(text, priority, undefined, $('#announcement-pin').checked, textCy);
    $('#announcement-text').value = '';
    $('#announcement-text-cy').value = '';
    $('#announcement-pin').checked = false;
    // Back to normal, so that the next one is not urgent by accident.
    document.querySelector('input[name="priority"][value="normal"]').checked = true;
    announce(t('org.announcementPosted'));
  });

  // Announcements are the command `announcement.post` on the `announcements` state channel
  // (PROTOCOL.md); older servers took them as published messages {text, priority} instead. Start with
  // what worked last time and switch when the server says so.
  const VIA = 'makeroom:announce-via';
  let via = (() => {
    try {
      return localStorage.getItem(VIA) || 'command';
    } catch {
      return 'command';
    }
  })();
  const switched = new Set();
  const postAnnouncement = (text, priority, key, pinned = false, textCy = undefined) => {
    if (via === 'command') client.command('announcements', { type: 'announcement.post', text, text_cy: textCy, priority, pinned }, { key });
    else client.publish('announcements', { text, priority }, { key });
  };
  const switchVia = (entry, error) => {
    const toCommand = entry.op !== 'command' && error.code === 'forbidden' && /command/.test(error.message);
    const toPublish = entry.op === 'command' && (error.code === 'unknown_op' || (error.code === 'bad_request' && /publish/.test(error.message)));
    if (!(toCommand || toPublish) || switched.has(entry.key)) return false;
    switched.add(entry.key);
    via = toCommand ? 'command' : 'publish';
    try {
      localStorage.setItem(VIA, via);
    } catch {
      // remembered for this page only
    }
    postAnnouncement(body(entry).text, body(entry).priority, entry.key, body(entry).pinned, body(entry).text_cy);
    return true;
  };
  const feed = new AnnouncementFeed(client, { limit: SHOWN, onChange: render });

  client.on('outbox', render);
  client.on('failed', ({ entry, error }) => {
    if (entry.channel !== 'announcements' || switchVia(entry, error)) return;
    const text = body(entry).text;
    organiser.fail(`${text ? t('org.notPosted', { text: String(text).slice(0, 40) }) : t('form.notMade')} ${errorText(error)}`);
  });
  onLanguageChange(render);
  return { render, start: () => feed.start() };
}
