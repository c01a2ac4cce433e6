// The catalogues (i18n/en.js, i18n/cy.js), with no browser: the same keys in both, the same `{names}`
// in both texts of a key, the plural forms each language needs, an entry for every error code that
// PROTOCOL.md lists, and every key the pages name (t('…'), data-i18n="…", keys handed on as strings)
// present. Then i18n.js itself: plurals, fallback to English, bilingual order, time zone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { webDir, repoDir } from './harness.mjs';
import en from '../i18n/en.js';
import cy from '../i18n/cy.js';

const CATALOGUES = { en, cy };

/** Every `.js` and `.html` file of the pages (not the tests, not node_modules). */
function pageFiles(dir = webDir) {
  const files = [];
  for (const name of readdirSync(dir)) {
    // i18n.js only says how keys are named; the catalogues are what is checked.
    if (name === 'node_modules' || name === 'tests' || name === 'i18n' || name === 'i18n.js') continue;
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) files.push(...pageFiles(full));
    else if (/\.(js|html)$/.test(name)) files.push(full);
  }
  return files;
}

const names = (text) => new Set([...String(text).matchAll(/\{(\w+)\}/g)].map((match) => match[1]));
const texts = (entry) => (typeof entry === 'object' ? Object.values(entry) : [entry]);

test('both catalogues have the same keys: none missing in either', () => {
  const missing = [];
  for (const [lang, catalogue] of Object.entries(CATALOGUES)) {
    for (const [otherLang, other] of Object.entries(CATALOGUES)) {
      if (other === catalogue) continue;
      for (const key of Object.keys(other)) if (!(key in catalogue)) missing.push(`${lang} lacks ${key} (in ${otherLang})`);
    }
  }
  assert.deepEqual(missing, [], `keys missing:\n${missing.join('\n')}`);
  assert.ok(Object.keys(en).length > 400, 'the catalogues hold every page’s words');
});

test('each text names the same {params} in both languages, and no text is empty', () => {
  const wrong = [];
  for (const key of Object.keys(en)) {
    const expected = new Set([...texts(en[key])].flatMap((text) => [...names(text)]));
    for (const [lang, catalogue] of Object.entries(CATALOGUES)) {
      for (const text of texts(catalogue[key] ?? '')) {
        if (!String(text).trim()) wrong.push(`${lang} ${key}: empty`);
        for (const name of names(text)) if (!expected.has(name) && name !== 'count') wrong.push(`${lang} ${key}: {${name}} is not in English`);
      }
      const all = new Set(texts(catalogue[key] ?? '').flatMap((text) => [...names(text)]));
      for (const name of expected) if (name !== 'count' && !all.has(name)) wrong.push(`${lang} ${key}: never says {${name}}`);
    }
  }
  assert.deepEqual(wrong, [], wrong.join('\n'));
});

test('plural entries give every form the language uses, for any count', () => {
  const wrong = [];
  for (const [lang, catalogue] of Object.entries(CATALOGUES)) {
    const rules = new Intl.PluralRules(lang);
    const forms = new Set(Array.from({ length: 1001 }, (_, n) => rules.select(n)));
    for (const [key, entry] of Object.entries(catalogue)) {
      if (typeof entry !== 'object') continue;
      for (const form of forms) if (!(form in entry)) wrong.push(`${lang} ${key}: no "${form}" form`);
    }
  }
  assert.deepEqual(wrong, [], wrong.join('\n'));
  // Welsh has all six: 0 zero, 1 one, 2 two, 3 few, 6 many, others other.
  assert.deepEqual([0, 1, 2, 3, 6, 7].map((n) => new Intl.PluralRules('cy').select(n)), ['zero', 'one', 'two', 'few', 'many', 'other']);
});

test('every error code PROTOCOL.md lists has its words, and so have the client’s own codes', () => {
  const protocol = readFileSync(path.join(repoDir, 'protocol/PROTOCOL.md'), 'utf8');
  const section = protocol.slice(protocol.indexOf('## 5. Error codes'), protocol.indexOf('## 6. Close codes'));
  const codes = [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((match) => match[1]);
  assert.ok(codes.length >= 12, `found the codes: ${codes}`);
  const lacking = [...codes, 'timeout', 'closed', 'offline', 'network', 'unknown'].filter((code) => !(`error.${code}` in en));
  assert.deepEqual(lacking, []);
});

test('every key a page names is in the catalogues', () => {
  const groups = new Set(Object.keys(en).map((key) => key.split('.')[0]));
  const missing = [];
  for (const file of pageFiles()) {
    const source = readFileSync(file, 'utf8');
    const named = [
      ...[...source.matchAll(/\bt\(\s*'([^']+)'/g)].map((match) => match[1]),
      ...[...source.matchAll(/data-i18n(?:-[a-z]+)?="([^"]+)"/g)].map((match) => match[1]),
      // Keys handed on as strings ('org.noLink', 'display.withdrawn', ...).
      // Command types (`type: 'help.claim'`) look alike and are not keys.
      ...[...source.matchAll(/(?<!type: )'([a-z]+\.[A-Za-z0-9_.]+)'/g)].map((match) => match[1]).filter((key) => groups.has(key.split('.')[0])),
    ];
    for (const key of named) if (!(key in en)) missing.push(`${path.relative(webDir, file)}: ${key}`);
  }
  assert.deepEqual([...new Set(missing)], [], `keys the pages name that no catalogue has:\n${missing.join('\n')}`);
  // Keys made from a value: each value's entry exists.
  for (const role of ['organiser', 'display', 'participant']) assert.ok(`role.${role}` in en);
  for (const column of ['todo', 'doing', 'done']) assert.ok(`board.column.${column}` in en);
});

test('i18n.js: plurals, English for a missing key, both texts in the event’s order, the event’s time zone', async () => {
  const i18n = await import('../i18n.js');
  i18n.setLanguage('cy');
  assert.equal(i18n.language(), 'cy');
  assert.deepEqual([1, 2, 3].map((count) => i18n.t('board.cards', { count })), ['1 cerdyn', '2 gerdyn', '3 cherdyn']);
  assert.deepEqual([1, 2].map((count) => i18n.t('status.messages', { count })), ['1 neges', '2 neges']);
  assert.equal(i18n.t('no.such.key'), 'no.such.key');
  assert.equal(i18n.list(['1 neges', '1 newid']), '1 neges ac 1 newid');
  assert.equal(i18n.errorText({ code: 'forbidden' }), cy['error.forbidden']);
  assert.equal(i18n.errorText({ code: 'something_new' }), cy['error.unknown']);
  i18n.setEvent({ name: 'Network Day', name_cy: 'Diwrnod y Rhwydwaith', language: 'cy' });
  assert.deepEqual(i18n.localText('Network Day', 'Diwrnod y Rhwydwaith'), { text: 'Diwrnod y Rhwydwaith', lang: 'cy' });
  assert.deepEqual(i18n.bothTexts('Lunch', 'Cinio').map((line) => line.text), ['Cinio', 'Lunch'], 'Welsh first for an event run in Welsh');
  i18n.setEvent({ name: 'Network Day', language: 'cy', bilingual_order: 'en_first', time_zone: 'America/New_York' });
  assert.deepEqual(i18n.bothTexts('Lunch', 'Cinio').map((line) => line.text), ['Lunch', 'Cinio']);
  assert.equal(i18n.timeZone(), 'America/New_York');
  i18n.setEvent({ name: 'Made in Lambeth' });
  assert.equal(i18n.timeZone(), 'Europe/London');
  assert.equal(i18n.dateFormat({ hour: '2-digit', minute: '2-digit' }).format(Date.UTC(2026, 6, 1, 12, 5)), '13:05', 'London summer time');
  i18n.setLanguage('en');
  assert.deepEqual([1, 2].map((count) => i18n.t('board.cards', { count })), ['1 card', '2 cards']);
  assert.equal(i18n.browserLanguage(['fr-FR', 'cy-GB', 'en']), 'cy');
  assert.equal(i18n.browserLanguage(['en-GB', 'cy']), 'en');
  assert.equal(i18n.browserLanguage(['fr']), null);
});
