// organiser/export.js: the console's Export: the whole event as JSON, Markdown or HTML, or all of it
// with the outputs' photos as a .zip, from
// `GET /api/events/{id}/export` with the organiser's bearer token, downloaded as a file.

import { $, h } from '../ui.js';
import { errorText, t } from '../i18n.js';

/** Sets up the Export section. */
export function exportSection(organiser) {
  for (const button of document.querySelectorAll('[data-export]')) {
    button.addEventListener('click', async () => {
      const format = button.dataset.export;
      const said = $('#export-message');
      said.textContent = t('org.preparing');
      button.disabled = true;
      try {
        const { token } = await organiser.source();
        const response = await fetch(`/api/events/${encodeURIComponent(organiser.eventId)}/export?format=${format}`, {
          headers: { authorization: `Bearer ${token}` },
          cache: 'no-store',
          credentials: 'omit',
        });
        if (!response.ok) {
          let code = response.status === 401 ? 'unauthorized' : response.status === 403 ? 'forbidden' : 'unknown';
          try {
            code = (await response.json()).error.code;
          } catch {
            // keep the status text
          }
          throw Object.assign(new Error(response.statusText), { code });
        }
        const blob = await response.blob();
        const disposition = response.headers.get('content-disposition') || '';
        const match = /filename="?([^";]+)"?/.exec(disposition);
        const name = match ? match[1] : `makeroom-${organiser.eventId}.${{ markdown: 'md', bundle: 'zip' }[format] || format}`;
        const url = URL.createObjectURL(blob);
        const a = h('a', { href: url, download: name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        said.textContent = t('org.downloaded', { name });
      } catch (err) {
        said.textContent = `${t('org.exportFailed')} ${errorText(err)}`;
      } finally {
        button.disabled = false;
      }
    });
  }
}
