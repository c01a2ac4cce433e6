// organiser/export.js: the console's Export: the whole event as JSON, Markdown or HTML, or all of it
// with the outputs' photos as a .zip, from
// `GET /api/events/{id}/export` with the organiser's bearer token, downloaded as a file.

import { $, h } from '../ui.js';

/** Sets up the Export section. */
export function exportSection(organiser) {
  for (const button of document.querySelectorAll('[data-export]')) {
    button.addEventListener('click', async () => {
      const format = button.dataset.export;
      const said = $('#export-message');
      said.textContent = 'Preparing the download…';
      button.disabled = true;
      try {
        const { token } = await organiser.source();
        const response = await fetch(`/api/events/${encodeURIComponent(organiser.eventId)}/export?format=${format}`, {
          headers: { authorization: `Bearer ${token}` },
          cache: 'no-store',
          credentials: 'omit',
        });
        if (!response.ok) {
          let text = response.statusText;
          try {
            text = (await response.json()).error.message;
          } catch {
            // keep the status text
          }
          throw new Error(text);
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
        said.textContent = `Downloaded ${name}.`;
      } catch (err) {
        said.textContent = `Could not export: ${err.message}.`;
      } finally {
        button.disabled = false;
      }
    });
  }
}
