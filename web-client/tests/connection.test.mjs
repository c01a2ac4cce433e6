// Browser tests of the connection's life: tokens refreshed on the server's `token_expiring` push
// without dropping the connection, and a server restart survived with exact recovery.
// Run with the others: node --test tests/

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PHONE, pageErrors, joinAs, launchBrowser, newContext, startServer, waitOnline } from './harness.mjs';

let browser;
const servers = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  for (const server of servers) await server.stop().catch(() => {});
});

async function record(page) {
  await page.evaluate(() => {
    window.__seen = { ready: 0, pubs: [], statuses: [], resyncs: [] };
    window.makeroom.on('ready', () => (window.__seen.ready += 1));
    window.makeroom.on('pub', (p) => window.__seen.pubs.push(`${p.channel}#${p.offset}`));
    window.makeroom.on('status', (s) => window.__seen.statuses.push(s.status));
    window.makeroom.on('resync', (r) => window.__seen.resyncs.push(`${r.channel}:${r.reason}`));
  });
}

async function send(page, text) {
  await page.getByPlaceholder(/^Message/).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

const stored = (page, text) => page.locator('.panel:not([hidden]) .msg:not(.pending)', { hasText: text });

test('short-lived tokens are refreshed on `token_expiring` without dropping the connection', { timeout: 60000 }, async () => {
  // Access tokens live 6 s and the server warns 4.5 s ahead: a refresh every 1.5 s or so.
  const server = await startServer({ extraArgs: ['--access-token-ttl', '6', '--token-warning', '4.5'] });
  servers.push(server);
  const page = await (await newContext(browser, PHONE)).newPage();
  let tokenCalls = 0;
  page.on('request', (request) => {
    if (request.url().endsWith('/api/token')) tokenCalls += 1;
  });
  await joinAs(page, server, { name: 'Tess', team: 'Love Your Space' });
  await record(page);
  await page.waitForTimeout(9000); // longer than a token lives
  await send(page, 'Still here after my token expired twice');
  await stored(page, 'Still here after my token expired twice').waitFor({ timeout: 10000 });
  const seen = await page.evaluate(() => window.__seen);
  assert.equal(seen.ready, 0, 'no new connection was needed');
  assert.deepEqual(seen.statuses, [], 'stayed online throughout');
  assert.ok(tokenCalls >= 3, `fetched fresh tokens (${tokenCalls})`);
});

test('a server restart is survived: the phone reconnects and recovers exactly what it missed', { timeout: 90000 }, async () => {
  let server = await startServer();
  servers.push(server);
  const ada = await (await newContext(browser, PHONE)).newPage();
  const bob = await (await newContext(browser, PHONE)).newPage();
  await joinAs(ada, server, { name: 'Ada', team: 'Healthwatch Lambeth' });
  await joinAs(bob, server, { name: 'Bob', team: 'Healthwatch Lambeth' });
  await send(ada, 'Before the restart');
  await stored(bob, 'Before the restart').waitFor();
  await record(bob);

  const port = new URL(server.url).port;
  await server.stop({ keepData: true });
  servers.pop();
  await bob.waitForFunction(() => window.makeroom.status === 'reconnecting', null, { timeout: 10000 });
  // Bob writes while the server is down.
  await send(bob, 'Written while the server was down');
  server = await startServer({ bind: `127.0.0.1:${port}`, data: server.data });
  servers.push(server);
  await waitOnline(ada, 30000);
  await send(ada, 'After the restart');
  await waitOnline(bob, 30000);
  for (const text of ['After the restart', 'Written while the server was down']) {
    await stored(bob, text).waitFor({ timeout: 15000 });
    await stored(ada, text).waitFor({ timeout: 15000 });
    assert.equal(await stored(bob, text).count(), 1);
    assert.equal(await stored(ada, text).count(), 1);
  }
  assert.equal(await stored(bob, 'Before the restart').count(), 1);
  const seen = await bob.evaluate(() => window.__seen);
  assert.equal(new Set(seen.pubs).size, seen.pubs.length, `no publication delivered twice: ${seen.pubs}`);
  assert.deepEqual(seen.resyncs, [], 'recovered with `since`, without reloading');
  assert.ok(seen.ready >= 1);
});

test('a team change and a removal take effect live (servers with roster commands)', { timeout: 60000 }, async (t) => {
  const server = await startServer();
  servers.push(server);
  const ada = await (await newContext(browser, PHONE)).newPage();
  await joinAs(ada, server, { name: 'Ada', team: 'Healthwatch Lambeth' });
  await record(ada);
  const info = await (await fetch(`${server.url}/api/join/${server.joinCode}`)).json();
  const love = info.teams.find((team) => team.name === 'Love Your Space');
  // Ada moves herself to another team with a roster command.
  const moved = await ada.evaluate(async (team) => {
    try {
      return await window.makeroom.command('roster', { type: 'team.join', team }).done;
    } catch (err) {
      return { error: err.code };
    }
  }, love.id);
  if (moved.error) {
    t.skip(`this server has no roster commands (${moved.error})`);
    return;
  }
  // The server ends her old room's subscription; the page follows her to the new team.
  await ada.locator('#who', { hasText: 'Love Your Space' }).waitFor({ timeout: 10000 });
  await ada.locator('#tab-team', { hasText: 'Love Your Space' }).waitFor();
  await send(ada, 'Hello, new team');
  await stored(ada, 'Hello, new team').waitFor();

  // An organiser removes her: her page says so and stops, without trying again.
  const organiser = await (await newContext(browser, PHONE)).newPage();
  await organiser.goto(server.organiser);
  await waitOnline(organiser);
  const adaId = await ada.evaluate(() => window.makeroom.me.participant.id);
  let tokenCalls = 0;
  ada.on('request', (request) => {
    if (request.url().endsWith('/api/token')) tokenCalls += 1;
  });
  await organiser.evaluate((participant) => window.makeroom.command('roster', { type: 'participant.remove', participant }).done, adaId);
  await ada.getByRole('heading', { name: 'You have left this event' }).waitFor({ timeout: 10000 });
  assert.equal(await ada.evaluate(() => window.makeroom.status), 'removed');
  await ada.waitForTimeout(2000);
  assert.equal(tokenCalls, 0, 'no reconnect after close 4003');
  // And the organiser's roster no longer lists her.
  await organiser.locator('#roster-body', { hasText: 'Organisers and displays' }).waitFor();
  assert.equal(await organiser.locator('#roster-body li', { hasText: 'Ada' }).count(), 0);
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
