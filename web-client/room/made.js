// room/made.js: the room's Made section: what the team made, recorded from a phone so that the
// weekend's work survives it (`output.save` on `outputs`): a title, a description, photos (resized
// on the phone and uploaded), links, who carries it on and what happens next. The form is
// output-editor.js's; every phone of the team sees a save at once (the `outputs` channel), and the
// section says who saved last and when. Someone without a team is told to join one first. Its words
// are the catalogues' (`made.…`, the form's `output.…`), drawn again when the language changes.

import { $, setChildren } from '../ui.js';
import { OutputEditor } from '../output-editor.js';
import { Status } from '../makeroom.js';
import { onLanguageChange, t } from '../i18n.js';

/** Sets up the Made section; returns `render()`, to call when the outputs or the team change. */
export function madeSection(room) {
  const { client } = room;
  let editor = null;
  let editorTeam = null;
  const build = () => {
    editorTeam = room.teamId;
    editor = new OutputEditor({
      idPrefix: 'made',
      eventId: room.eventId,
      getToken: async () => (await client.options.getToken()).token,
      isOnline: () => client.status === Status.ONLINE && navigator.onLine !== false,
      save: (fields) => client.command('outputs', { type: 'output.save', ...fields }).done,
      nameOf: room.nameOf,
    });
    setChildren($('#made-holder'), editor.element);
  };
  const render = () => {
    const team = room.teamId;
    $('#made-heading').textContent = team ? t('made.heading', { team: room.teamName(team) }) : t('room.made');
    $('#made-intro').textContent = team ? t('made.intro') : t('made.teamless');
    $('#made-holder').hidden = !team;
    if (!team) return;
    if (!editor || editorTeam !== team) build();
    const outputs = room.outputs && room.outputs.outputs;
    editor.show((outputs && outputs[team]) || null);
  };
  // The form redraws its own words; the heading and the intro are drawn here.
  onLanguageChange(render);
  return { render };
}
