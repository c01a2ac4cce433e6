// organiser/joining.js: the console's Joining: the join code, the join link and its QR code (drawn
// by the server: `/api/join/{code}/qr.svg`), a printable poster of them, and closing joining or giving
// the event a new code (`/api/events/{id}/joining` and `/join-code`). The code comes with the link
// (`&code=`), from `hello`, from those calls, or the organiser types it once here.

import { api } from '../makeroom.js';
import { $, copyText, saveSession } from '../ui.js';
import { ROLE } from './context.js';
import { errorText, onLanguageChange, t } from '../i18n.js';

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
    const src = `/api/join/${encodeURIComponent(code)}/qr.svg`;
    for (const image of [$('#join-qr'), $('#poster-qr')]) {
      if (image.getAttribute('src') === src) continue;
      image.src = src;
      image.alt = t('org.qrAlt', { link });
    }
    $('#poster-link').textContent = `${location.host}/join`;
    $('#poster-code').textContent = code;
  };
  showCode(organiser.session.code);
  // The poster is printed alone; the console prints as itself otherwise.
  $('#print-poster').addEventListener('click', () => {
    $('#poster-event').textContent = $('#event-name').textContent || organiser.session.event.name;
    document.body.classList.add('print-poster');
    window.addEventListener('afterprint', () => document.body.classList.remove('print-poster'), { once: true });
    window.print();
  });
  $('#copy-join').addEventListener('click', async (event) => {
    const ok = await copyText($('#join-link').value, $('#join-link'));
    event.target.textContent = ok ? t('org.copied') : t('org.copy');
  });
  $('#code-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    organiser.fail('');
    const code = $('#code-input').value.trim().toUpperCase();
    try {
      const info = await api(`/api/join/${encodeURIComponent(code)}`);
      if (info.event.id !== organiser.eventId) {
        organiser.fail(t('org.otherEvent', { code, name: info.event.name }));
        return;
      }
      organiser.session.code = code;
      saveSession(ROLE, organiser.session);
      showCode(code);
    } catch (err) {
      organiser.fail(err.code === 'not_found' ? t('org.noSuchCode', { code }) : `${t('org.codeCheckFailed')} ${errorText(err)}`);
    }
  });
  const keepCode = (code) => {
    if (!code || code === organiser.session.code) return;
    organiser.session.code = code;
    saveSession(ROLE, organiser.session);
    showCode(code);
  };
  client.on('ready', (hello) => {
    // Servers that tell organisers the join code save them typing it.
    keepCode(hello.event.join_code);
    refreshJoining();
  });

  // Whether joining is open, and the buttons that change it and the code.
  let open = true;
  const joiningPath = (what) => `/api/events/${encodeURIComponent(organiser.eventId)}/${what}`;
  const showJoining = (joining) => {
    open = joining.open;
    keepCode(joining.join_code);
    drawJoining();
  };
  const drawJoining = () => {
    $('#joining-state').textContent = open ? t('org.joiningOpen') : t('org.joiningClosed');
    $('#toggle-joining').textContent = open ? t('org.closeJoining') : t('org.openJoining');
    $('#toggle-joining').hidden = false;
    $('#rotate-code').hidden = false;
  };
  const call = async (what, options, failure) => {
    organiser.fail('');
    try {
      const { token } = await organiser.source();
      showJoining(await api(joiningPath(what), { ...options, token }));
    } catch (err) {
      organiser.fail(`${t(failure)} ${errorText(err)}`);
    }
  };
  const refreshJoining = () => call('joining', {}, 'org.joiningReadFailed');
  onLanguageChange(() => {
    if (!$('#toggle-joining').hidden) drawJoining();
  });
  $('#toggle-joining').addEventListener('click', (event) => {
    event.target.disabled = true;
    call('joining', { method: 'POST', body: { open: !open } }, open ? 'org.closeFailed' : 'org.openFailed').finally(() => {
      event.target.disabled = false;
    });
  });
  $('#rotate-code').addEventListener('click', (event) => {
    const sure = confirm(t('org.confirmNewCode'));
    if (!sure) return;
    event.target.disabled = true;
    call('join-code', { method: 'POST' }, 'org.newCodeFailed').finally(() => {
      event.target.disabled = false;
    });
  });
}
