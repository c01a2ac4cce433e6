// room/made.js: the room's Made section: what the team made, recorded from a phone so that the
// weekend's work survives it (`output.save` on `outputs`): a title, a description, photos (resized
// on the phone and uploaded), links, who carries it on and what happens next. The form is
// output-editor.js's; every phone of the team sees a save at once (the `outputs` channel), and the
// section says who saved last and when. Someone without a team is told to join one first.

import { $, setChildren } from '../ui.js';
import { OutputEditor } from '../output-editor.js';
import { Status } from '../makeroom.js';

const TEXT = {
  heading: (team) => `What ${team} made`,
  teamless: 'Join a team first: each team records what it made.',
  intro: 'For the partners and whoever carries the work on: this is what they will read after the weekend.',
};

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
    $('#made-heading').textContent = team ? TEXT.heading(room.teamName(team)) : 'Made';
    $('#made-intro').textContent = team ? TEXT.intro : TEXT.teamless;
    $('#made-holder').hidden = !team;
    if (!team) return;
    if (!editor || editorTeam !== team) build();
    const outputs = room.outputs && room.outputs.outputs;
    editor.show((outputs && outputs[team]) || null);
  };
  return { render };
}
