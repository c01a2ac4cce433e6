// organiser/displays.js: the console's Displays: a link for each projector (`POST
// /api/events/{id}/displays`), with the join code added so that the display can show it.

import { api } from '../makeroom.js';
import { $, copyText } from '../ui.js';
import { errorText, t } from '../i18n.js';

/** Sets up the Displays section. */
export function displaysSection(organiser) {
  $('#display-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    organiser.fail('');
    const button = event.target.querySelector('button');
    button.disabled = true;
    try {
      const { token } = await organiser.source();
      const name = $('#display-name').value.trim() || 'Display';
      const created = await api(`/api/events/${encodeURIComponent(organiser.eventId)}/displays`, { method: 'POST', body: { name }, token });
      const link = organiser.session.code ? `${created.link}&code=${organiser.session.code}` : created.link;
      $('#display-link').value = link;
      $('#open-display').href = link;
      $('#display-result').hidden = false;
      $('#display-link').focus();
      $('#display-link').select();
    } catch (err) {
      organiser.fail(`${t('org.displayFailed')} ${errorText(err)}`);
    } finally {
      button.disabled = false;
    }
  });
  $('#copy-display').addEventListener('click', async (event) => {
    const ok = await copyText($('#display-link').value, $('#display-link'));
    event.target.textContent = ok ? t('org.copied') : t('org.copy');
  });
}
