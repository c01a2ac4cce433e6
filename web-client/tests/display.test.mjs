// Browser tests of the projector display against the real server: its times come from the server's
// clock, so a display whose own clock is 7 minutes fast shows the same remaining time as one whose
// clock is right; the warning and over-time styles; the next phase's countdown.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROJECTOR, command, newContext, openOrganiser, pageErrors, waitOnline, withCode, startServerAndBrowser, stopServerAndBrowser } from './harness.mjs';

const SKEW_MS = 7 * 60 * 1000;

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

/** A display page; with `skewMs`, its Date (Date.now() and new Date()) runs that far ahead. */
async function openDisplay(skewMs = 0) {
  const context = await newContext(browser, PROJECTOR);
  if (skewMs) {
    await context.addInitScript((skew) => {
      const RealDate = Date;
      const realNow = RealDate.now.bind(RealDate);
      class SkewedDate extends RealDate {
        constructor(...args) {
          if (args.length === 0) super(realNow() + skew);
          else super(...args);
        }

        static now() {
          return realNow() + skew;
        }
      }
      globalThis.Date = SkewedDate;
    }, skewMs);
  }
  const page = await context.newPage();
  await page.goto(withCode(server.display, server.joinCode));
  await waitOnline(page);
  return page;
}

/**
 * What the display shows now: the countdown's text, the exact remaining ms behind it, and when (on the
 * real clock: the page's own clock less its known skew) that value was computed.
 */
const reading = (page, skewMs) =>
  page.evaluate((skew) => {
    const node = document.querySelector('#countdown');
    return {
      text: node.textContent,
      remaining: Number(node.dataset.remainingMs),
      realAt: Number(node.dataset.localAt) - skew,
      mode: document.querySelector('#hero').dataset.mode,
    };
  }, skewMs);

/** Seconds in "4:59", "+0:12" or "1:02:03". */
const seconds = (text) =>
  text
    .replace('+', '')
    .split(':')
    .reduce((acc, part) => acc * 60 + Number(part), 0);

/**
 * Reads both displays at the same moment, several times, and returns the largest disagreement: each
 * reading's remaining time carried to one common real instant (a running countdown loses 1 ms per ms).
 */
async function disagreement(right, skewed, { running = true } = {}) {
  let worst = 0;
  for (let i = 0; i < 5; i++) {
    const [a, b] = await Promise.all([reading(right, 0), reading(skewed, SKEW_MS)]);
    assert.equal(a.mode, b.mode);
    const at = Math.max(a.realAt, b.realAt);
    const carry = (r) => (running ? r.remaining - (at - r.realAt) : r.remaining);
    worst = Math.max(worst, Math.abs(carry(a) - carry(b)));
    assert.ok(Math.abs(seconds(a.text) - seconds(b.text)) <= 1, `same time on screen: ${a.text} and ${b.text}`);
    await right.waitForTimeout(130);
  }
  return worst;
}

describe('the display', { timeout: 120000 }, () => {
  let organiser;
  let right;
  let skewed;

  test('a display whose clock is 7 minutes fast counts down to the next phase like the others', { timeout: 40000 }, async (t) => {
    organiser = await openOrganiser(browser, server);
    right = await openDisplay(0);
    skewed = await openDisplay(SKEW_MS);
    // The skew is real on that page, and its client has measured it.
    const offset = await skewed.evaluate(() => Date.now() - window.makeroom.serverNow());
    assert.ok(Math.abs(offset - SKEW_MS) < 1000, `the skewed page knows its clock is ${offset} ms ahead`);
    for (const page of [right, skewed]) await page.locator('#hero[data-mode="phase"]', { hasText: 'Next: Lunch' }).waitFor();
    const worst = await disagreement(right, skewed);
    t.diagnostic(`next-phase countdowns ${worst.toFixed(1)} ms apart at most`);
    assert.ok(worst < 100, `the countdowns agree within 100 ms: ${worst} ms apart`);
    // The wall clocks agree too.
    assert.equal(await right.locator('#clock-hm').textContent(), await skewed.locator('#clock-hm').textContent());
  });

  test('while a team presents, both show its name, the same remaining time and who is next', { timeout: 40000 }, async (t) => {
    await command(organiser, 'presentations', { type: 'presentations.start', index: 0 });
    for (const page of [right, skewed]) {
      await page.locator('#hero[data-mode="presenting"]').waitFor();
      await page.locator('#hero-name', { hasText: 'Co-operative council website' }).waitFor();
      await page.locator('#hero-next', { hasText: 'Next: Healthwatch Lambeth' }).waitFor();
    }
    const worst = await disagreement(right, skewed);
    t.diagnostic(`presenting countdowns ${worst.toFixed(1)} ms apart at most`);
    assert.ok(worst < 100, `remaining times agree within 100 ms: ${worst} ms apart`);
    const { remaining } = await reading(right, 0);
    assert.ok(remaining > 4 * 60000 && remaining <= 5 * 60000, `a 5-minute slot has just started: ${remaining} ms left`);

    // Paused, the time stands still, the same on both.
    await command(organiser, 'presentations', { type: 'presentations.pause' });
    for (const page of [right, skewed]) await page.locator('#hero-state', { hasText: 'Paused' }).waitFor();
    const [a, b] = await Promise.all([reading(right, 0), reading(skewed, SKEW_MS)]);
    assert.equal(a.remaining, b.remaining);
    assert.equal(a.text, b.text);
    await right.waitForTimeout(1100);
    assert.equal((await reading(right, 0)).remaining, a.remaining, 'paused: the time does not move');
    await command(organiser, 'presentations', { type: 'presentations.resume' });
    await right.locator('#hero-state', { hasText: 'left' }).waitFor();
  });

  test('the warning style comes when less than warning_ms is left, and "over time" after the end', { timeout: 30000 }, async () => {
    // A 1-minute slot that warns 59 s before its end: the warning shows within a second.
    await command(organiser, 'presentations', { type: 'presentations.slot', slot_ms: 60000, warning_ms: 59000 });
    for (const page of [right, skewed]) {
      await page.locator('#hero.warn').waitFor();
      await page.locator('#hero-state', { hasText: 'wrap up' }).waitFor();
    }
    // Pretend the right display's clock estimate is 2 minutes later: the same state is then over time.
    await right.evaluate(() => {
      window.makeroom._clock.offset += 120000;
    });
    await right.locator('#hero.over').waitFor();
    await right.locator('#hero-state', { hasText: 'Over time' }).waitFor();
    assert.match(await right.locator('#countdown').textContent(), /^\+\d+:\d\d$/);
    assert.ok((await reading(right, 0)).remaining < 0);
    await right.evaluate(() => {
      window.makeroom._clock.offset -= 120000;
    });
    await right.locator('#hero.warn').waitFor();
    // The next team, then the end of the show: back to the schedule.
    await command(organiser, 'presentations', { type: 'presentations.next' });
    await skewed.locator('#hero-name', { hasText: 'Healthwatch Lambeth' }).waitFor();
    await command(organiser, 'presentations', { type: 'presentations.stop' });
    await skewed.locator('#hero[data-mode="phase"]').waitFor();
  });
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
