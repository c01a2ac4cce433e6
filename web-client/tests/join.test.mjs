// Joining where you are useful, and leaving a phone: the join page shows each team's brief and the
// skills it still misses, says which teams miss what the newcomer types (matched loosely: "designer"
// covers "Service design"), and picks no team for them. "Sign out of this phone" asks first (saying
// how many messages would be lost), leaves the team's presence, and forgets the sign-in, the outbox
// and what the phone saved of the event.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PHONE, joinAs, newContext, openSection, pageErrors, startServerAndBrowser, stopServerAndBrowser, teamsByName, waitForAsync, waitOnline } from './harness.mjs';

const TEAM = 'Healthwatch Lambeth';

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

/** Types and sends a message from the page's composer. */
async function send(page, text) {
  await page.getByPlaceholder(/^Message/).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** How many outbox records the phone keeps in IndexedDB, and whether it still has a saved room. */
const kept = (page) =>
  page.evaluate(async () => {
    const count = (name, store) =>
      new Promise((resolve) => {
        const open = indexedDB.open(name);
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains(store)) return resolve(0);
          const request = db.transaction(store).objectStore(store).count();
          request.onsuccess = () => resolve(request.result);
        };
        open.onerror = () => resolve(-1);
      });
    return { outbox: await count('makeroom', 'outbox'), rooms: await count('makeroom-rooms', 'rooms') };
  });

describe('joining and leaving', { timeout: 120000 }, () => {
  test('the join page shows each team\'s brief and what it misses, and which of that the newcomer has', { timeout: 30000 }, async () => {
    const teams = await teamsByName(server);
    const page = await (await newContext(browser, PHONE)).newPage();
    await page.goto(`${server.url}/join?code=${server.joinCode}`);
    await page.getByLabel('Your name').waitFor();
    for (const team of Object.values(teams)) {
      const choice = page.locator(`.team-choice[data-team="${team.id}"]`);
      await choice.getByText(`Brief: ${team.brief}`).waitFor();
      await choice.getByText(`Still missing: ${team.missing.join(', ')}`).waitFor();
    }
    // Nobody is put in a team they did not pick.
    assert.equal(await page.locator('input[name="team"]:checked').count(), 0);

    await page.getByLabel('Your skills').fill('designer, user research');
    const match = (name) => page.locator(`.team-choice[data-team="${teams[name].id}"] .match`);
    await match(TEAM).getByText('You have what it misses: Service design').waitFor();
    await match('Co-operative council website').getByText('You have what it misses: Content design, User research').waitFor();
    assert.equal(await match('Love Your Space').isHidden(), true);
    // The radio's name is the team's; its brief and what it misses describe it.
    const radio = page.getByRole('radio', { name: TEAM });
    assert.match(await radio.getAttribute('aria-describedby'), /about/);

    // Joining without picking a team: in the lobby, teamless.
    await page.getByLabel('Your name').fill('Newcomer');
    await page.getByRole('button', { name: 'Join the event' }).click();
    await page.waitForURL(/\/room\?event=/);
    await page.locator('#who', { hasText: 'no team yet' }).waitFor();
    await waitOnline(page);
    assert.equal(await page.evaluate(() => window.makeroom.me.team || null), null);
  });

  test('signing out of a phone asks first, leaves the team\'s presence and forgets what the phone kept', { timeout: 60000 }, async () => {
    const grace = await (await newContext(browser, PHONE)).newPage();
    const sam = await (await newContext(browser, PHONE)).newPage();
    await joinAs(grace, server, { name: 'Grace', team: TEAM });
    await joinAs(sam, server, { name: 'Sam', team: TEAM });
    await grace.locator('.here', { hasText: 'Here now (2)' }).waitFor();

    // Sam writes with no network, then wants to sign out: he is told what would be lost, and says no.
    await sam.context().setOffline(true);
    await sam.waitForFunction(() => window.makeroom.status !== 'online', null, { timeout: 15000 });
    await send(sam, 'Never sent, because Sam signed out');
    await sam.waitForFunction(() => window.makeroom.outbox.length === 1);
    await openSection(sam, 'Teams');
    let asked = '';
    sam.once('dialog', (dialog) => {
      asked = dialog.message();
      dialog.dismiss();
    });
    await sam.getByRole('button', { name: 'Sign out of this phone' }).click();
    await sam.waitForFunction(() => window.makeroom.outbox.length === 1);
    assert.match(asked, /1 message or change has not been sent yet, and will be lost/);
    assert.equal(await sam.getByRole('heading', { name: 'You have signed out' }).count(), 0);
    await sam.context().setOffline(false);
    // Back online the message goes, as it should when he stays signed in.
    await grace.locator('.msg', { hasText: 'Never sent, because Sam signed out' }).waitFor({ timeout: 20000 });
    await sam.waitForFunction(() => window.makeroom.status === 'online' && window.makeroom.outbox.length === 0);
    await grace.locator('.here', { hasText: 'Here now (2)' }).waitFor();

    // Offline again with a new message; this time he signs out.
    await sam.context().setOffline(true);
    await sam.waitForFunction(() => window.makeroom.status !== 'online', null, { timeout: 15000 });
    await openSection(sam, 'Chat');
    await send(sam, 'This one is lost on purpose');
    await sam.waitForFunction(() => window.makeroom.outbox.length === 1);
    await openSection(sam, 'Teams');
    sam.once('dialog', (dialog) => dialog.accept());
    await sam.getByRole('button', { name: 'Sign out of this phone' }).click();
    await sam.getByRole('heading', { name: 'You have signed out' }).waitFor();
    assert.equal(await sam.evaluate(() => window.makeroom.status), 'closed');
    assert.equal(await sam.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith('makeroom:session:')).length), 0, 'the sign-in is gone');
    await waitForAsync(sam, () => window.makeroom.outbox.length === 0);
    assert.deepEqual(await kept(sam), { outbox: 0, rooms: 0 }, 'the outbox and the saved room are gone');
    await sam.getByRole('link', { name: 'Join again' }).waitFor();

    // Online again, nothing he wrote goes out, and the page stays signed out.
    await sam.context().setOffline(false);
    await sam.waitForTimeout(1500);
    assert.equal(await sam.evaluate(() => window.makeroom.status), 'closed');
    assert.equal(await grace.locator('.msg', { hasText: 'This one is lost on purpose' }).count(), 0);

    // Signing out while online leaves the team's presence at once.
    const ada = await (await newContext(browser, PHONE)).newPage();
    await joinAs(ada, server, { name: 'Ada', team: TEAM });
    await grace.locator('.here', { hasText: 'Ada' }).waitFor();
    await openSection(ada, 'Teams');
    let question = '';
    ada.once('dialog', (dialog) => {
      question = dialog.message();
      dialog.accept();
    });
    await ada.getByRole('button', { name: 'Sign out of this phone' }).click();
    await ada.getByRole('heading', { name: 'You have signed out' }).waitFor();
    assert.match(question, /^Sign out of .* on this phone\?$/);
    await grace.waitForFunction(() => !document.querySelector('.here').textContent.includes('Ada'), null, { timeout: 10000 });
    // Coming back to the room offers to join, not to continue.
    await ada.goto(`${server.url}/room`);
    await ada.getByRole('heading', { name: 'Join an event first' }).waitFor();
  });
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
