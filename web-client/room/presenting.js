// room/presenting.js: the show and tell on every phone, whatever section is open. While a team
// presents, a compact bar under the section tabs says who it is and how long is left, worked out from
// the `presentations` state on the server's clock and redrawn every 100 ms, so that it agrees with
// the projector to a tenth of a second. The presenting team's own phones turn the bar into a warning
// at the wrap-up mark (`warning_ms`): in words and a symbol, read out, and with a buzz where the phone
// can. The Schedule section lists the running order (room/schedule.js).

import { formatClock, remainingMs } from '../state.js';
import { $, announce } from '../ui.js';
import { onLanguageChange, t } from '../i18n.js';

const REDRAW_MS = 100;

/** Sets up the bar; returns `render()`, to call when `presentations` or this person's team changes. */
export function presentingBar(room) {
  const { client } = room;
  const bar = $('#presenting');
  const what = $('#presenting-what');
  const time = $('#presenting-time');
  let timer = null;
  let warned = null; // the slot whose warning was given: the team, its start and its extensions
  let told = null; // the presenting team last read out
  const set = (node, text) => {
    if (node.textContent !== text) node.textContent = text;
  };
  const draw = () => {
    const show = room.presentations;
    const current = show && show.current;
    if (!current) {
      bar.hidden = true;
      clearInterval(timer);
      timer = null;
      told = null;
      return;
    }
    const left = remainingMs(show, client.serverNow());
    const ours = Boolean(room.teamId) && current.team === room.teamId;
    const paused = current.paused_at !== null && current.paused_at !== undefined;
    const wrapUp = ours && left <= show.warning_ms;
    const name = room.teamName(current.team);
    bar.hidden = false;
    bar.className = `presenting${ours ? ' ours' : ''}${wrapUp ? ' warn' : ''}${left < 0 ? ' over' : ''}`;
    set(what, wrapUp ? `⚠ ${left < 0 ? t('show.timeUp') : t('show.wrapUp')}` : `▶ ${ours ? t('show.oursPresenting') : t('show.presenting', { name })}`);
    set(time, `${left < 0 ? t('show.over', { clock: `+${formatClock(-left)}` }) : t('show.left', { clock: formatClock(left) })}${paused ? ` · ${t('show.paused')}` : ''}`);
    // For tests and other tools, as on the display: the exact value behind the text, and this phone's clock then.
    time.dataset.remainingMs = String(Math.round(left));
    time.dataset.localAt = String(Date.now());
    const turn = `${current.team}:${current.started_at}`;
    const slot = `${turn}:${current.extended_ms}`; // an extension past the mark warns again at the new one
    if (told !== turn) {
      told = turn;
      announce(ours ? t('show.oursNow') : t('show.now', { name }));
    }
    if (wrapUp && !paused && warned !== slot) {
      warned = slot;
      announce(left < 0 ? t('show.oursOver') : t('show.oursWrapUp', { clock: formatClock(left) }), { urgent: true });
      try {
        if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
      } catch {
        // no buzz on this phone
      }
    }
  };
  const render = () => {
    draw();
    const live = room.presentations && room.presentations.current;
    if (live && !timer) timer = setInterval(draw, REDRAW_MS);
  };
  onLanguageChange(draw);
  return { render };
}
