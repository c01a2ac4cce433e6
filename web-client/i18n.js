// i18n.js: Welsh and English. Every page's words come from one catalogue per language
// (i18n/en.js, i18n/cy.js, the same keys); `t(key, params)` gives the reader's, or the English when
// the reader's catalogue lacks the key. The language is the reader's saved choice, else the first of
// the browser's languages that the pages speak, else the event's own language, else English. It sets
// `lang` on the page, so screen readers pronounce it, and on any text in the other language.
//
// Nothing here touches the DOM beyond document.documentElement and the elements handed to it.

import en from './i18n/en.js';
import cy from './i18n/cy.js';

export const CATALOGUES = { en, cy };
/** Each language's name, in itself: what the switch offers. */
export const LANGUAGE_NAMES = { cy: 'Cymraeg', en: 'English' };
const CHOICE_KEY = 'makeroom:language';
const DEFAULT_TIME_ZONE = 'Europe/London';

function savedChoice() {
  try {
    const saved = globalThis.localStorage && globalThis.localStorage.getItem(CHOICE_KEY);
    return saved in CATALOGUES ? saved : null;
  } catch {
    return null;
  }
}

/** The first of the browser's languages that the pages speak (any `cy…` is Welsh), or null. */
export function browserLanguage(languages = (globalThis.navigator && (navigator.languages || [navigator.language])) || []) {
  for (const tag of languages) {
    const base = String(tag || '').toLowerCase().split('-')[0];
    if (base in CATALOGUES) return base;
  }
  return null;
}

let current = savedChoice() || browserLanguage() || 'en';
let event = null; // the event's details (the roster's `event`), once known
const listeners = new Set();

/** The reader's language now: 'cy' or 'en'. */
export function language() {
  return current;
}

/** The other language, the one the switch offers. */
export function otherLanguage(lang = current) {
  return lang === 'cy' ? 'en' : 'cy';
}

function entryFor(lang, key) {
  const catalogue = CATALOGUES[lang];
  return catalogue && Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : undefined;
}

const pluralRules = {};
function pluralForm(lang, count) {
  if (!pluralRules[lang]) pluralRules[lang] = new Intl.PluralRules(lang);
  return pluralRules[lang].select(count);
}

/**
 * The reader's text for `key`, with `{name}` replaced by `params.name`. An entry with plural forms
 * (`{zero, one, two, few, many, other}`, as the language needs) is picked by `params.count` through
 * Intl.PluralRules. A key the reader's catalogue lacks comes in English; one neither has, as itself.
 */
export function t(key, params = {}) {
  let lang = current;
  let entry = entryFor(lang, key);
  if (entry === undefined) {
    lang = 'en';
    entry = entryFor(lang, key);
  }
  if (entry === undefined) return key;
  if (typeof entry === 'object') {
    const count = Number(params.count) || 0;
    entry = entry[pluralForm(lang, count)] ?? entry.other;
  }
  return String(entry).replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Whether the catalogues hold `key` (for texts chosen by a server's code). */
export function has(key) {
  return entryFor(current, key) !== undefined || entryFor('en', key) !== undefined;
}

/** A list in the reader's language: "A, B and C" / "A, B a C" ("ac" before a vowel: "ac 1 newid"). */
export function list(items) {
  const words = items.map(String);
  if (words.length < 2) return words.join('');
  const last = words[words.length - 1];
  const vowel = /^([aeiouwyâêîôûŵŷ]|1(\D|$)|8|1[18](\D|$))/i.test(last);
  return t(vowel ? 'list.andVowel' : 'list.and', { rest: words.slice(0, -1).join(', '), last });
}

// ------------------------------------------------------------------ the event

/** The page has the event's details (`{name, name_cy, language, bilingual_order, time_zone}`). */
export function setEvent(details) {
  event = details || null;
  // A reader who chose nothing, whose browser speaks neither language, gets the event's.
  const lang = event && event.language;
  if (lang in CATALOGUES && lang !== current && !savedChoice() && !browserLanguage()) apply(lang);
}

/** The event's time zone: every time on every page is shown in it. */
export function timeZone() {
  return (event && event.time_zone) || DEFAULT_TIME_ZONE;
}

/** The language of organiser-written text without a Welsh twin: the event's own. */
function eventLanguage() {
  return (event && event.language) || 'en';
}

const DATE_LOCALES = { en: 'en-GB', cy: 'cy-GB' };

/**
 * The locale for dates and times: the reader's, where the browser has its data. Some browsers lack
 * Welsh dates (Debian's Chromium does); they get British numbers (24-hour), and the weekdays from
 * the catalogue (weekdayName).
 */
function dateLocale() {
  const wanted = DATE_LOCALES[current];
  try {
    return Intl.DateTimeFormat.supportedLocalesOf([wanted]).length ? wanted : 'en-GB';
  } catch {
    return 'en-GB';
  }
}

/** Intl.DateTimeFormat in the reader's language and the event's time zone. */
export function dateFormat(options) {
  return new Intl.DateTimeFormat(dateLocale(), { timeZone: timeZone(), ...options });
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The weekday of `ts` in the event's time zone, `long` ("dydd Iau") or short ("Iau"). */
export function weekdayName(ts, { long = true } = {}) {
  if (dateLocale() === DATE_LOCALES[current]) return dateFormat({ weekday: long ? 'long' : 'short' }).format(new Date(ts));
  const index = WEEKDAYS.indexOf(new Intl.DateTimeFormat('en-GB', { timeZone: timeZone(), weekday: 'short' }).format(new Date(ts)));
  return t(`${long ? 'day' : 'day.short'}.${index}`);
}

/** The calendar day of `ts` in the event's time zone, to tell "today" from other days. */
export function dayOf(ts) {
  return dateFormat({ year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ts));
}

/** The weekday of `ts` as a time adverb: "Sunday", "ddydd Sul" (Welsh softens "dydd" after a verb). */
export function weekdayWhen(ts) {
  const day = weekdayName(ts);
  return current === 'cy' ? day.replace(/^dydd/i, 'ddydd') : day;
}

// ------------------------------------------------------------------ organisers' two-language text

/**
 * Organiser-written text in the reader's language where there is one: `{text, lang}`, `lang` being
 * the text's language (set it as the element's `lang` when it differs from the page's: `langOf`).
 */
export function localText(english, welsh) {
  if (welsh && current === 'cy') return { text: welsh, lang: 'cy' };
  if (english) return { text: english, lang: welsh ? 'en' : eventLanguage() };
  return { text: welsh || '', lang: 'cy' };
}

/** `lang` for organiser-written text in one language only (phases, team names): the event's, when not the page's. */
export function eventTextLang() {
  return langOf(eventLanguage());
}

/** `lang` for an element holding text in `lang`: undefined when it is the page's own language. */
export function langOf(lang) {
  return lang && lang !== current ? lang : undefined;
}

/** Puts `text` in `element`, with `lang` set when its language is not the page's (and removed when it is). */
export function showText(element, { text, lang }) {
  element.textContent = text;
  if (langOf(lang)) element.setAttribute('lang', lang);
  else element.removeAttribute('lang');
}

/** The event's order for text in both languages: 'cy_first' or 'en_first'. */
export function bilingualOrder(details = event) {
  if (details && (details.bilingual_order === 'cy_first' || details.bilingual_order === 'en_first')) return details.bilingual_order;
  return details && details.language === 'cy' ? 'cy_first' : 'en_first';
}

/** Both texts, as the projector shows them: `[{text, lang}]` in the event's order (one when there is one). */
export function bothTexts(english, welsh) {
  if (!welsh) return english ? [{ text: english, lang: eventLanguage() }] : [];
  if (!english) return [{ text: welsh, lang: 'cy' }];
  const lines = [
    { text: english, lang: 'en' },
    { text: welsh, lang: 'cy' },
  ];
  return bilingualOrder() === 'cy_first' ? lines.reverse() : lines;
}

/** The event's name in the reader's language. */
export function eventName(details = event, fallback = '') {
  return details ? localText(details.name, details.name_cy).text : fallback;
}

// ------------------------------------------------------------------ errors

/**
 * What to tell the reader about a refusal, from its `code` (never the server's English message):
 * `error.{code}`, or the catalogue's general words. `retry_after_ms` becomes seconds.
 */
export function errorText(err) {
  const code = (err && err.code) || 'unknown';
  const seconds = Math.max(1, Math.ceil(((err && (err.retryAfterMs ?? err.retry_after_ms)) || 1000) / 1000));
  return has(`error.${code}`) ? t(`error.${code}`, { count: seconds }) : t('error.unknown');
}

// ------------------------------------------------------------------ the page

/**
 * Puts the catalogue's words into the page's own markup: `data-i18n="key"` sets an element's text,
 * and `data-i18n-label`, `data-i18n-placeholder`, `data-i18n-title` and `data-i18n-alt` set its
 * aria-label, placeholder, title and alt.
 */
export function translate(root = globalThis.document) {
  if (!root || !root.querySelectorAll) return;
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  const attributes = { i18nLabel: 'aria-label', i18nPlaceholder: 'placeholder', i18nTitle: 'title', i18nAlt: 'alt' };
  for (const [data, attribute] of Object.entries(attributes)) {
    const selector = `[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const node of root.querySelectorAll(selector)) node.setAttribute(attribute, t(node.dataset[data]));
  }
}

function apply(lang) {
  current = lang;
  const root = globalThis.document && document.documentElement;
  if (root) root.lang = lang;
  translate();
  for (const listener of listeners) listener(lang);
}

/** Changes the page's language now, redraws it in place and remembers the choice. */
export function setLanguage(lang) {
  if (!(lang in CATALOGUES)) return;
  try {
    globalThis.localStorage.setItem(CHOICE_KEY, lang);
  } catch {
    // not remembered: this page still changes
  }
  if (lang !== current) apply(lang);
}

/** Calls `listener(lang)` whenever the language changes; returns a function that stops it. */
export function onLanguageChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * The switch: a button that names the other language in that language ("Cymraeg" on an English page,
 * "English" on a Welsh one), with its `lang`, and changes to it.
 */
export function languageSwitch(button) {
  const draw = () => {
    const other = otherLanguage();
    button.textContent = LANGUAGE_NAMES[other];
    button.lang = other;
    button.setAttribute('aria-label', `${LANGUAGE_NAMES[other]}: ${CATALOGUES[other]['language.switch']}`);
  };
  button.type = 'button';
  button.hidden = false;
  button.classList.add('language-switch');
  button.addEventListener('click', () => setLanguage(otherLanguage()));
  onLanguageChange(draw);
  draw();
  return button;
}

/** Starts a page in the reader's language: `lang` on the page, its markup translated, the switches drawn. */
export function startPage() {
  const root = globalThis.document && document.documentElement;
  if (root) root.lang = current;
  translate();
  for (const button of document.querySelectorAll('[data-language-switch]')) languageSwitch(button);
}
