// organiser/joining.js: the console's Joining: the join code, the join link and its QR code
// (qr.js). No API tells an organiser the join code, so it comes with the link (`&code=`), or the
// organiser types it once here, or a server that puts it in `hello` gives it.

import { api } from '../makeroom.js';
import { qrSvg } from '../qr.js';
import { $, copyText, saveSession, setChildren } from '../ui.js';
import { ROLE } from './context.js';

/** Sets up the Joining section. */
export function joiningSection(organiser) {
  const { client } = organiser;
  const showCode = (code) => {
    $('#code-known').hidden = !code;
    $('#code-form').hidden = Boolean(code);
    if (!code) return;
    const link = `${location.origin}/join?code=${code}`;
    $('#join-code').textContent = code;
    $('#join-link').value = link;
    const box = $('#join-qr');
    if (box.dataset.link !== link) {
      box.dataset.link = link;
      try {
        setChildren(box, qrSvg(link, { label: `QR code for the join link ${link}` }));
      } catch {
        setChildren(box);
      }
    }
  };
  showCode(organiser.session.code);
  $('#copy-join').addEventListener('click', async (event) => {
    const ok = await copyText($('#join-link').value, $('#join-link'));
    event.target.textContent = ok ? 'Copied' : 'Copy';
  });
  $('#code-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    organiser.fail('');
    const code = $('#code-input').value.trim().toUpperCase();
    try {
      const info = await api(`/api/join/${encodeURIComponent(code)}`);
      if (info.event.id !== organiser.eventId) {
        organiser.fail(`The code ${code} is for another event ("${info.event.name}").`);
        return;
      }
      organiser.session.code = code;
      saveSession(ROLE, organiser.session);
      showCode(code);
    } catch (err) {
      organiser.fail(err.code === 'not_found' ? `No event has the join code ${code}.` : `Could not check the code: ${err.message}.`);
    }
  });
  client.on('ready', (hello) => {
    if (hello.event.join_code && hello.event.join_code !== organiser.session.code) {
      // Servers that tell organisers the join code save them typing it.
      organiser.session.code = hello.event.join_code;
      saveSession(ROLE, organiser.session);
      showCode(organiser.session.code);
    }
  });
}
