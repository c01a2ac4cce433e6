// The Made section in Welsh, photographed on its own: node tests/screenshots-made-cy.mjs [folder]
// (default: docs/screenshots/). Starts the demo in Welsh (`--demo-language cy`) on a free port, joins
// a Welsh phone (390x844) to Caffis Trwsio, records what the team made with a photo, and writes
// room-made-cy.png. tests/screenshots.mjs calls it too, so that every screenshot stays reproducible.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PHONE, launchBrowser, newContext, repoDir, startServer, waitOnline, webDir } from './harness.mjs';

const WELSH = { locale: 'cy-GB', extraHTTPHeaders: { 'Accept-Language': 'cy-GB,cy;q=0.9' } };

/** Writes room-made-cy.png with `shot(page, name)`, on a Welsh demo server of its own. */
export async function shootWelshMade(browser, shot) {
  const server = await startServer({ extraArgs: ['--demo-language', 'cy'] });
  try {
    const page = await (await newContext(browser, { ...PHONE, ...WELSH })).newPage();
    await page.goto(`${server.url}/join?code=${server.joinCode}`);
    await page.locator('#name').fill('Cerys');
    await page.getByLabel('Caffis Trwsio').check();
    await page.locator('#join-button').click();
    await page.waitForURL(/\/room\?event=/);
    await waitOnline(page);
    await page.locator('#stab-made').click();
    await page.locator('#view-made:not([hidden])').waitFor();
    await page.locator('#made-title').fill('Map o gaffis trwsio Sir Fynwy');
    await page.locator('#made-description').fill("Ble mae'r caffis trwsio, pryd maen nhw ar agor, a phwy sydd angen gwirfoddolwyr.");
    const chooser = page.waitForEvent('filechooser');
    await page.locator('#made-add-photos').click();
    await (await chooser).setFiles(path.join(webDir, 'tests/fixtures/post-it-wall.jpg'));
    await page.locator('#made-photo-list .photo img').evaluate((img) => img.decode());
    await page.locator('#made-carried').fill('Caffi Trwsio Cymru\nCyngor Sir Fynwy');
    await page.locator('#made-next').fill("Rhannu'r map yn y llyfrgelloedd ym mis Medi.");
    await page.locator('#made-save').click();
    await page.locator('#made-status', { hasText: /^Cadwyd am .+ gan Cerys\.$/ }).waitFor();
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.evaluate(() => document.querySelector('#view-made').scrollTo(0, 0));
    await shot(page, 'room-made-cy');
    await page.context().close();
  } finally {
    await server.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = path.resolve(process.argv[2] || path.join(repoDir, 'docs/screenshots'));
  mkdirSync(out, { recursive: true });
  const browser = await launchBrowser();
  try {
    await shootWelshMade(browser, async (page, name) => {
      const file = path.join(out, `${name}.png`);
      await page.screenshot({ path: file });
      console.log(file);
    });
  } finally {
    await browser.close();
  }
}
