// organiser/event.js: the console's Event: the event's name, when it starts and ends, and its time
// zone (which the export writes times in), changed with
// `event.update` on `roster`. Only what was changed is sent, and a time once set can be moved but
// not cleared (PROTOCOL.md), so the form says so instead of sending a change the server would ignore.

import { $, announce, fromLocalInput, toLocalInput } from '../ui.js';
import { bilingualOrder, t } from '../i18n.js';

/** Sets up the Event section; returns `render()`, to call when the roster changes. */
export function eventSection(organiser) {
  const form = $('#event-form');
  const name = $('#event-name-input');
  const nameCy = $('#event-name-cy-input');
  const language = $('#event-language');
  const order = $('#event-order');
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
    nameCy.value = event.name_cy || '';
    language.value = event.language === 'cy' ? 'cy' : 'en';
    order.value = bilingualOrder(event);
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
      message.textContent = t('org.needsName');
      return name.focus();
    }
    if (newName !== event.name) command.name = newName;
    // The Welsh name, the language and the projector's order: "" removes the Welsh name.
    if (nameCy.value.trim() !== (event.name_cy || '')) command.name_cy = nameCy.value.trim();
    if (language.value !== (event.language === 'cy' ? 'cy' : 'en')) command.language = language.value;
    if (order.value !== bilingualOrder(event)) command.bilingual_order = order.value; // else it follows the language
    const newZone = zone.value.trim();
    if (!newZone) {
      message.textContent = t('org.timeZoneNeeded');
      return zone.focus();
    }
    if (newZone !== (event.time_zone || 'Europe/London')) command.time_zone = newZone;
    for (const [input, field, key] of [
      [starts, 'starts_at', 'org.startNotCleared'],
      [ends, 'ends_at', 'org.endNotCleared'],
    ]) {
      const at = fromLocalInput(input.value);
      if (at === null && event[field]) {
        message.textContent = t(key);
        return input.focus();
      }
      if (at !== null && input.value !== (event[field] ? toLocalInput(event[field]) : '')) command[field] = at;
    }
    const startsAt = command.starts_at || event.starts_at;
    const endsAt = command.ends_at || event.ends_at;
    if (startsAt && endsAt && endsAt <= startsAt) {
      message.textContent = t('org.endAfterStart');
      return ends.focus();
    }
    dirty = false;
    if (Object.keys(command).length === 1) {
      render();
      return;
    }
    organiser.send('roster', command, message, t('org.do.changeEvent')).done.then(
      () => announce(t('org.eventSaved')),
      (err) => {
        // The server knows which zones there are; a refused new zone is most likely one it does not.
        if (err && err.code === 'bad_request' && command.time_zone && !('name' in command) && !('name_cy' in command)) message.textContent = `${t('org.couldNot', { what: t('org.do.changeEvent') })} ${t('org.timeZoneUnknown', { zone: command.time_zone })}`;
      },
    );
  });
  return { render };
}
