// organiser/event.js: the console's Event: the event's name, when it starts and ends, and its time
// zone (which the export writes times in), changed with
// `event.update` on `roster`. Only what was changed is sent, and a time once set can be moved but
// not cleared (PROTOCOL.md), so the form says so instead of sending a change the server would ignore.

import { $, announce, fromLocalInput, toLocalInput } from '../ui.js';

/** Sets up the Event section; returns `render()`, to call when the roster changes. */
export function eventSection(organiser) {
  const form = $('#event-form');
  const name = $('#event-name-input');
  const starts = $('#event-starts');
  const ends = $('#event-ends');
  const zone = $('#event-time-zone');
  const message = $('#event-message');
  // The browser's own list of IANA zones, as suggestions; the server decides what it knows.
  try {
    for (const name of Intl.supportedValuesOf('timeZone')) $('#time-zones').append(Object.assign(document.createElement('option'), { value: name }));
  } catch {
    // an older browser: the field takes a typed name
  }
  let dirty = false; // typing wins over a live update
  form.addEventListener('input', () => (dirty = true));
  const render = () => {
    const event = organiser.roster && organiser.roster.event;
    if (!event || dirty) return;
    name.value = event.name || '';
    starts.value = event.starts_at ? toLocalInput(event.starts_at) : '';
    ends.value = event.ends_at ? toLocalInput(event.ends_at) : '';
    zone.value = event.time_zone || 'Europe/London';
  };
  form.addEventListener('submit', (submit) => {
    submit.preventDefault();
    const event = (organiser.roster && organiser.roster.event) || {};
    message.textContent = '';
    const command = { type: 'event.update' };
    const newName = name.value.trim();
    if (!newName) {
      message.textContent = 'The event needs a name.';
      return name.focus();
    }
    if (newName !== event.name) command.name = newName;
    const newZone = zone.value.trim();
    if (!newZone) {
      message.textContent = 'The event needs a time zone, such as Europe/London.';
      return zone.focus();
    }
    if (newZone !== (event.time_zone || 'Europe/London')) command.time_zone = newZone;
    for (const [input, field, words] of [
      [starts, 'starts_at', 'start'],
      [ends, 'ends_at', 'end'],
    ]) {
      const at = fromLocalInput(input.value);
      if (at === null && event[field]) {
        message.textContent = `The ${words} can be moved, not cleared: pick a time.`;
        return input.focus();
      }
      if (at !== null && input.value !== (event[field] ? toLocalInput(event[field]) : '')) command[field] = at;
    }
    const startsAt = command.starts_at || event.starts_at;
    const endsAt = command.ends_at || event.ends_at;
    if (startsAt && endsAt && endsAt <= startsAt) {
      message.textContent = 'The event must end after it starts.';
      return ends.focus();
    }
    dirty = false;
    if (Object.keys(command).length === 1) {
      render();
      return;
    }
    organiser.send('roster', command, message, 'change the event').done.then(() => announce('Event saved.'), () => {});
  });
  return { render };
}
