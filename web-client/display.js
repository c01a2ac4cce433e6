// The projector display: /display#refresh=TOKEN, then /display?event=ID. Readable from the back of
// a hall: the event's name and a clock on the server's time; while a team presents, its name and
// the time it has left, who is next, and what it made (its output's title, first photo and the
// first line of its description); otherwise the countdown to the schedule's next phase; the
// latest announcements; and how to join, with the join link's QR code (drawn by the server, which
// the display asks again every little while, so that a new join code reaches it without a reload).
// Every time shown comes from the server's times and the
// estimate of the server's clock (PROTOCOL.md sections 8 and 12), redrawn every 100 ms, never from
// ticks, so a display whose own clock is minutes off shows the same as every other screen.

import { Status, api } from './makeroom.js';
import { StateChannel, formatClock, nextPresenter, remainingMs, scheduleAt } from './state.js';
import { AnnouncementFeed, announcementItem, newestThenPinned } from './announcements.js';
import { photoUrl } from './output-editor.js';
import { $, clientFromLink, forgetSession, h, keepForOffline, saveSession, setChildren, showStatus, signInFromLink } from './ui.js';
import { bothTexts, dateFormat, dayOf, eventTextLang, langOf, language, onLanguageChange, setEvent, startPage, t, weekdayWhen } from './i18n.js';

const ROLE = 'display';
const SHOWN = 4; // announcements on screen
const JOINING_EVERY_MS = 10000; // how often the join code and whether joining is open are asked again

let said = null; // the key of what #message says, said again in a new language
function say(key) {
  said = key;
  const box = $('#message');
  box.textContent = key ? t(key) : '';
  box.hidden = !key;
}
onLanguageChange(() => say(said));

const signIn = () =>
  signInFromLink(ROLE, {
    say,
    texts: { none: 'display.noLink', expired: 'display.withdrawn', removed: 'display.withdrawn', unreachable: 'display.unreachable' },
  });

function start(signedIn) {
  const { session } = signedIn;
  const eventId = session.event.id;
  $('#screen').hidden = false;
  // The event's name in both its languages, in the event's order: the usual bilingual signage.
  let details = { name: session.event.name };
  const showName = () => {
    const names = bothTexts(details.name, details.name_cy);
    setChildren($('#event-name'), ...names.map(({ text, lang }, index) => h('span', { class: index ? 'second-language' : null, lang: langOf(lang), text })));
    document.title = t('page.title', { name: names.map((name) => name.text).join(' / ') });
  };
  showName();

  const { client, source } = clientFromLink(signedIn);
  showStatus($('#status'), client);

  // How to join: the code in words and the link as a QR code, hidden while joining is closed.
  let joinOpen = true;
  const showJoin = (code) => {
    const shown = Boolean(code) && joinOpen;
    $('#join').hidden = !shown;
    $('#join-qr').hidden = !shown;
    $('#screen').classList.toggle('has-qr', shown);
    if (!code) return;
    $('#join-code').textContent = code;
    $('#join-url').textContent = `${location.host}/join`;
    const qr = $('#join-qr');
    const src = `/api/join/${encodeURIComponent(code)}/qr.svg`;
    if (qr.getAttribute('src') !== src) {
      qr.src = src;
      qr.alt = t('display.qrAlt', { link: `${location.origin}/join?code=${code}` });
    }
  };
  showJoin(session.code);
  const keepCode = (code) => {
    if (!code || code === session.code) return;
    session.code = code;
    saveSession(ROLE, session);
  };
  // Organisers may close joining or give the event a new code at any time; asked again on a timer and
  // whenever the connection comes back. A failed ask changes nothing shown.
  const askJoining = async () => {
    try {
      const { token } = await source();
      const joining = await api(`/api/events/${encodeURIComponent(eventId)}/joining`, { token });
      joinOpen = joining.open !== false;
      keepCode(joining.join_code);
      showJoin(session.code);
      render();
    } catch {
      // offline or refused: keep what is shown
    }
  };
  setInterval(askJoining, JOINING_EVERY_MS);

  // ---------------------------------------------------------------- clock on the server's time
  let format = dateFormat({ hour: 'numeric', minute: '2-digit' });
  let secondsFormat = dateFormat({ second: '2-digit' });
  onLanguageChange(() => {
    format = dateFormat({ hour: 'numeric', minute: '2-digit' });
    secondsFormat = dateFormat({ second: '2-digit' });
  });
  const tick = () => {
    const now = new Date(client.serverNow());
    // Hours and minutes big; seconds and any AM/PM small beside them.
    const parts = format.formatToParts(now);
    const hm = parts
      .filter((part) => part.type !== 'dayPeriod')
      .map((part) => part.value)
      .join('')
      .trim();
    const period = parts.find((part) => part.type === 'dayPeriod');
    $('#clock-hm').textContent = hm;
    $('#clock-s').textContent = `:${secondsFormat.format(now).padStart(2, '0')}`;
    $('#clock-period').textContent = period ? period.value : '';
    $('#clock').setAttribute('aria-label', t('display.timeIs', { time: format.format(now) }));
    // Wake up just after the next second starts on the server's clock.
    setTimeout(tick, 1000 - (client.serverNow() % 1000) + 5);
  };
  tick();

  // ---------------------------------------------------------------- now: the presenting team, or the next phase
  let roster = null;
  let schedule = null;
  let presentations = null;
  let outputs = null;
  const teamName = (id) => (roster && roster.teams[id] ? roster.teams[id].name : '');
  const hero = $('#hero');
  const countdown = $('#countdown');
  let shownMode = null;
  let said = '';
  const set = (id, text) => {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  };
  /** "at 14:00", or "Sunday at 14:00" ("ddydd Sul am 14:00") when that is not today, in the event's time zone. */
  const startsAt = (ts, now) => {
    const time = dateFormat({ hour: 'numeric', minute: '2-digit' }).format(new Date(ts));
    if (dayOf(ts) === dayOf(now)) return t('display.at', { time });
    return t('display.dayAt', { day: weekdayWhen(ts), time });
  };
  /** What the presenting team made, beside its timer: drawn only when it changed. */
  let outputShown = '';
  const showOutput = (team) => {
    const output = team && outputs && outputs.outputs ? outputs.outputs[team] : null;
    const key = output ? JSON.stringify([team, output.title, output.photos[0], output.description, language()]) : '';
    if (key === outputShown) return;
    outputShown = key;
    $('#hero-output').hidden = !output;
    hero.classList.toggle('has-output', Boolean(output));
    $('#screen').classList.toggle('has-output', Boolean(output));
    if (!output) return;
    set('#hero-output-title', output.title);
    set('#hero-output-text', (output.description || '').split('\n').find((line) => line.trim()) || '');
    // The team's own words are in the event's language; "They made" is the page's.
    for (const id of ['#hero-output-title', '#hero-output-text']) {
      if (eventTextLang()) $(id).setAttribute('lang', eventTextLang());
      else $(id).removeAttribute('lang');
    }
    const photo = $('#hero-output-photo');
    photo.hidden = !output.photos.length;
    if (output.photos.length) {
      photo.src = photoUrl(eventId, output.photos[0]);
      photo.alt = t('display.outputPhotoAlt', { team: teamName(team) });
    }
  };
  /** Computes what the hero shows from the state and the server's clock now; cheap, so every 100 ms. */
  const renderNow = () => {
    const now = client.serverNow();
    const current = presentations && presentations.current;
    let mode = 'none';
    let remaining = null;
    let speech = '';
    if (current) {
      mode = 'presenting';
      remaining = remainingMs(presentations, now);
      const over = remaining < 0;
      const warn = remaining <= presentations.warning_ms;
      set('#hero-label', t('display.nowPresenting'));
      set('#hero-name', teamName(current.team));
      set('#countdown', over ? `+${formatClock(-remaining)}` : formatClock(remaining));
      set('#hero-state', current.paused_at ? `❚❚ ${t('display.paused')}` : over ? `⚠ ${t('display.overTime')}` : warn ? `⚠ ${t('display.wrapUp')}` : t('display.left'));
      const next = nextPresenter(presentations);
      set('#hero-next', next ? t('display.next', { name: teamName(next) }) : t('display.lastTeam'));
      hero.classList.toggle('warn', warn && !over);
      hero.classList.toggle('over', over);
      hero.classList.toggle('paused', Boolean(current.paused_at));
      speech = t('display.presentingSaid', { name: teamName(current.team) });
      showOutput(current.team);
    } else if (schedule) {
      const { current: phases, next } = scheduleAt(schedule, now);
      hero.classList.remove('warn', 'over', 'paused');
      if (next) {
        mode = 'phase';
        remaining = next.starts_at - now;
        set('#hero-label', phases.length ? t('display.nowPhases', { phases: phases.map((p) => p.title).join(' · ') }) : t('display.comingUp'));
        set('#hero-name', t('display.next', { name: next.title }));
        set('#countdown', formatClock(remaining));
        set('#hero-state', t('display.starts', { when: startsAt(next.starts_at, now) }));
        set('#hero-next', '');
        speech = t('display.nextSaid', { name: next.title });
      } else if (phases.length) {
        mode = 'phase-end';
        const last = phases[phases.length - 1];
        remaining = last.ends_at - now;
        set('#hero-label', t('schedule.now'));
        set('#hero-name', last.title);
        set('#countdown', formatClock(remaining));
        set('#hero-state', t('display.untilEnd'));
        set('#hero-next', '');
        speech = t('display.nowSaid', { name: last.title });
      }
    }
    // Team names and phase titles are the organisers' words, in the event's language.
    const heroLang = mode === 'presenting' || mode === 'phase-end' ? eventTextLang() : undefined;
    if (heroLang) $('#hero-name').setAttribute('lang', heroLang);
    else $('#hero-name').removeAttribute('lang');
    if (mode !== 'presenting') showOutput(null);
    hero.dataset.mode = mode;
    hero.hidden = mode === 'none';
    $('#screen').classList.toggle('has-hero', mode !== 'none');
    if (remaining === null) {
      delete countdown.dataset.remainingMs;
    } else {
      // For tests and other tools: the exact value behind the text, and this screen's own clock then.
      countdown.dataset.remainingMs = String(Math.round(remaining));
      countdown.dataset.localAt = String(Date.now());
    }
    if (mode !== shownMode) {
      // The hero grew or shrank: lay the announcements out again in the room left.
      shownMode = mode;
      render();
    }
    if (speech !== said) {
      said = speech;
      $('#hero-said').textContent = speech;
    }
  };
  setInterval(renderNow, 100);
  const follow = (channel, apply) => new StateChannel(client, channel, { onChange: (state) => (apply(state), renderNow()) }).start();
  follow('roster', (state) => {
    roster = state;
    if (state && state.event) {
      setEvent(state.event);
      details = state.event;
      showName();
      render();
    }
  });
  follow('schedule', (state) => (schedule = state));
  follow('presentations', (state) => (presentations = state));
  follow('outputs', (state) => {
    outputs = state;
    outputShown = null; // draw again
  });

  // ---------------------------------------------------------------- announcements
  const render = () => {
    const newest = newestThenPinned(feed.items()).slice(0, SHOWN);
    const items = newest.map((announcement) => {
      const item = announcementItem(announcement, { both: true });
      if (announcement.offset === feed.fresh) item.classList.add('fresh');
      return item;
    });
    setChildren($('#announcement-list'), ...items);
    $('#announcements-title').hidden = items.length === 0;
    fit();
  };
  const feed = new AnnouncementFeed(client, { speak: true, onChange: render });
  // Whole announcements or none: drop the oldest shown until the rest fit on the screen.
  const fit = () => {
    const list = $('#announcement-list');
    const box = list.parentElement;
    while (list.children.length > 1 && box.scrollHeight > box.clientHeight + 1) list.lastElementChild.remove();
  };
  window.addEventListener('resize', () => render());

  onLanguageChange(() => {
    showName();
    renderNow();
    render();
  });
  client.on('ready', (hello) => {
    if (!roster) details = { ...details, name: hello.event.name };
    showName();
    keepCode(hello.event.join_code);
    showJoin(session.code);
    askJoining();
  });
  client.on('status', ({ status }) => {
    if (status === Status.SIGNED_OUT || status === Status.REMOVED) {
      forgetSession(ROLE, eventId);
      say('display.signedOut');
      $('#screen').hidden = true;
    }
  });

  feed.start();
  client.connect();
  window.makeroom = client;
  keepAwake();
}

/**
 * Keeps the projector's screen on where the browser allows it (Screen Wake Lock). The browser lets go
 * of the lock whenever the page is hidden, so it is asked for again each time the page is shown.
 * Where there is no such thing, or it is refused, nothing shows: the screen may then sleep as the
 * computer's settings say. `data-wake-lock` on the body says which, for tests and the curious.
 */
async function keepAwake() {
  const said = (state) => (document.body.dataset.wakeLock = state);
  if (!navigator.wakeLock || typeof navigator.wakeLock.request !== 'function') {
    said('unsupported');
    return;
  }
  let lock = null;
  const request = async () => {
    if (document.visibilityState !== 'visible' || (lock && !lock.released)) return;
    try {
      lock = await navigator.wakeLock.request('screen');
      said('held');
      lock.addEventListener('release', () => said('released'));
    } catch {
      said('refused'); // no secure context, a battery saver, or a policy
    }
  };
  await request();
  document.addEventListener('visibilitychange', request);
}

// Full screen on a click or the F key; the pointer and the button hide when the mouse rests.
const toggleFullscreen = () => {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
};
$('#fullscreen').addEventListener('click', toggleFullscreen);
document.addEventListener('keydown', (event) => {
  if ((event.key === 'f' || event.key === 'F') && !event.ctrlKey && !event.metaKey && !event.altKey) toggleFullscreen();
});
const fullscreenLabel = () => {
  $('#fullscreen').textContent = document.fullscreenElement ? t('display.leaveFullscreen') : t('display.fullscreen');
};
document.addEventListener('fullscreenchange', fullscreenLabel);
onLanguageChange(fullscreenLabel);
let idleTimer = null;
const wake = () => {
  document.body.classList.remove('idle');
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => document.body.classList.add('idle'), 3000);
};
document.addEventListener('mousemove', wake);
document.addEventListener('keydown', wake);
wake();

startPage();
keepForOffline();
signIn().then((signedIn) => {
  if (signedIn) start(signedIn);
});
