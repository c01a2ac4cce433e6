// What the teams made, as people record and see it: a phone records its team's output with a photo
// from a real image file (made smaller on the phone before it is sent), a second phone of the team
// sees it live, an upload tried offline says it was not sent, the console edits it, the projector
// shows it while the team presents, and the console's .zip export holds it with the photo's bytes.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PHONE, PROJECTOR, command, joinAs, newContext, openOrganiser, openSection, pageErrors, startServerAndBrowser, stopServerAndBrowser, waitOnline, webDir, withCode } from './harness.mjs';

const TEAM = 'Healthwatch Lambeth'; // second in the demo's running order
const PHOTO = path.join(webDir, 'tests/fixtures/post-it-wall.jpg'); // 2400x1800

let server;
let browser;
const scratch = mkdtempSync(path.join(tmpdir(), 'makeroom-outputs-'));

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(async () => {
  await stopServerAndBrowser({ server, browser });
  rmSync(scratch, { recursive: true, force: true });
});

/** The size of the picture an <img> shows (a lazy one below the fold is brought into view first). */
const imageSize = (page, selector) =>
  page.locator(selector).evaluate(async (img) => {
    img.scrollIntoView();
    await img.decode();
    return [img.naturalWidth, img.naturalHeight];
  });

describe('what the teams made', { timeout: 120000 }, () => {
  let ada;
  let bo;
  let organiser;
  let photo;

  test('a phone records its team’s output with a photo, resized before it is sent', async () => {
    ada = await (await newContext(browser, PHONE)).newPage();
    await joinAs(ada, server, { name: 'Ada', team: TEAM });
    bo = await (await newContext(browser, PHONE)).newPage();
    await joinAs(bo, server, { name: 'Bo', team: TEAM });
    await openSection(bo, 'Made');
    await bo.getByText('Not saved yet.').waitFor();

    await openSection(ada, 'Made');
    await ada.getByRole('heading', { name: `What ${TEAM} made` }).waitFor();
    await ada.getByLabel('What did you make?').fill('A post-it wall of what residents told us');
    await ada.getByLabel('Describe it').fill('Forty residents on what Healthwatch should ask first.\nGrouped by theme.');
    // The phone's file picker, with a real 2400x1800 JPEG.
    const chooser = ada.waitForEvent('filechooser');
    await ada.getByRole('button', { name: 'Add photos' }).click();
    await (await chooser).setFiles(PHOTO);
    await ada.locator('#made-photo-list .photo img').waitFor();
    photo = await ada.locator('#made-photo-list .photo').getAttribute('data-photo');
    assert.match(photo, /^img_[a-z0-9]{26}$/);
    assert.deepEqual(await imageSize(ada, '#made-photo-list .photo img'), [1600, 1200], 'made smaller on the phone');
    await ada.getByText('Press Save to keep the photos in the output.').waitFor();
    await ada.getByLabel('Links').fill('https://healthwatch-lambeth.example.org');
    await ada.getByLabel('Who carries it on?').fill('Healthwatch Lambeth\nLambeth Council, Adult Social Care');
    await ada.getByLabel('What happens next?').fill('Cabinet in September');
    await ada.getByRole('button', { name: 'Save', exact: true }).click();
    await ada.locator('#made-status', { hasText: /Saved .* by Ada\./ }).waitFor();

    // The team's other phone sees it at once.
    await bo.locator('#made-status', { hasText: /Saved .* by Ada\./ }).waitFor();
    assert.equal(await bo.getByLabel('What did you make?').inputValue(), 'A post-it wall of what residents told us');
    assert.equal(await bo.getByLabel('Who carries it on?').inputValue(), 'Healthwatch Lambeth\nLambeth Council, Adult Social Care');
    assert.deepEqual(await imageSize(bo, `#made-photo-list .photo[data-photo="${photo}"] img`), [1600, 1200]);
  });

  test('a photo added offline says it was not sent', async () => {
    await bo.context().setOffline(true);
    await bo.evaluate(() => window.makeroom.check());
    await bo.waitForFunction(() => window.makeroom.status !== 'online', null, { timeout: 10000 });
    const chooser = bo.waitForEvent('filechooser');
    await bo.getByRole('button', { name: 'Add photos' }).click();
    await (await chooser).setFiles(PHOTO);
    await bo.locator('#made-uploads .upload.failed', { hasText: 'post-it-wall.jpg was not sent: this device is offline.' }).waitFor();
    await bo.getByRole('button', { name: 'Dismiss' }).click();
    await bo.context().setOffline(false);
    await waitOnline(bo, 20000);
    assert.equal(await bo.locator('#made-photo-list .photo').count(), 1, 'nothing was added');
  });

  test('the console shows every team’s output and edits it', async () => {
    organiser = await openOrganiser(browser, server);
    await organiser.getByRole('link', { name: 'Outputs' }).click();
    const item = organiser.locator('#output-list li', { hasText: TEAM });
    await item.getByText('A post-it wall of what residents told us').waitFor();
    assert.deepEqual(await imageSize(organiser, `#output-list .output-photos img[src$="${photo}"]`), [1600, 1200]);
    await organiser.locator('#output-list li', { hasText: 'Love Your Space' }).getByText('Nothing recorded yet.').waitFor();
    await item.getByRole('button', { name: `Edit what ${TEAM} made` }).click();
    const title = item.getByLabel('What did you make?');
    assert.equal(await title.inputValue(), 'A post-it wall of what residents told us');
    await title.fill('The residents’ post-it wall');
    await item.getByRole('button', { name: 'Save', exact: true }).click();
    await item.locator('h3', { hasText: 'The residents’ post-it wall' }).waitFor();
    // The phones follow.
    await ada.locator('#made-status', { hasText: /Saved .* by Organiser\./ }).waitFor();
    assert.equal(await ada.getByLabel('What did you make?').inputValue(), 'The residents’ post-it wall');
  });

  test('the projector shows the presenting team’s output', async () => {
    const display = await (await newContext(browser, PROJECTOR)).newPage();
    await display.goto(withCode(server.display, server.joinCode));
    await waitOnline(display);
    await command(organiser, 'presentations', { type: 'presentations.start', index: 1 });
    await display.locator('#hero-name', { hasText: TEAM }).waitFor();
    await display.locator('#hero-output-title', { hasText: 'The residents’ post-it wall' }).waitFor();
    assert.equal(await display.locator('#hero-output-text').textContent(), 'Forty residents on what Healthwatch should ask first.');
    assert.deepEqual(await imageSize(display, '#hero-output-photo'), [1600, 1200]);
    assert.equal(await display.locator('#hero-output-photo').getAttribute('alt'), `A photo of what ${TEAM} made`);
    await command(organiser, 'presentations', { type: 'presentations.start', index: 0 });
    await display.locator('#hero-output').waitFor({ state: 'hidden' });
    await display.context().close();
  });

  test('the export bundle holds the output and the photo’s bytes, with times in the event’s zone', async () => {
    // The event happens in New York this time: the console's Event form says so.
    await organiser.getByRole('link', { name: 'Event', exact: true }).click();
    const zone = organiser.getByLabel('Time zone');
    assert.equal(await zone.inputValue(), 'Europe/London');
    await zone.fill('Mars/Olympus_Mons');
    await organiser.getByRole('button', { name: 'Save the event' }).click();
    await organiser.locator('#event-message', { hasText: 'is not a time zone such as Europe/London' }).waitFor();
    await zone.fill('America/New_York');
    await organiser.getByRole('button', { name: 'Save the event' }).click();
    await organiser.waitForFunction(() => window.makeroom.outbox.length === 0 && document.querySelector('#event-message').textContent === '');
    await organiser.getByRole('link', { name: 'Export' }).click();
    const download = organiser.waitForEvent('download');
    await organiser.getByRole('button', { name: 'Download everything with photos (.zip)' }).click();
    const zip = path.join(scratch, 'export.zip');
    await (await download).saveAs(zip);
    assert.match((await download).suggestedFilename(), /^makeroom-e_[a-z0-9]+\.zip$/);
    const folder = path.join(scratch, 'unzipped');
    execFileSync('unzip', ['-q', zip, '-d', folder]);
    const served = Buffer.from(await (await fetch(`${server.url}/api/events/${server.eventId}/photos/${photo}`)).arrayBuffer());
    assert.ok(served.length > 10000, 'a real photo');
    assert.deepEqual(readFileSync(path.join(folder, `photos/${photo}.jpg`)), served, 'the bundle keeps the photo as uploaded');
    const html = readFileSync(path.join(folder, 'export.html'), 'utf8');
    assert.ok(html.includes(`<img src="photos/${photo}.jpg"`), 'the archive shows the photo from beside it');
    assert.ok(html.includes('What it made: The residents’ post-it wall'));
    assert.ok(html.includes('Times are in America/New_York.'));
    assert.match(html, /Saved \d{4}-\d\d-\d\d \d\d:\d\d E[SD]T by Organiser/, 'who saved it when, in New York time');
    assert.match(html, /<div class="brief">\n<h4>The challenge<\/h4>/, 'briefs rendered from Markdown');
    const json = JSON.parse(readFileSync(path.join(folder, 'export.json'), 'utf8'));
    const team = Object.values(json.teams).find((t) => t.name === TEAM);
    assert.deepEqual(json.outputs[team.id].photos, [photo]);
    assert.deepEqual(json.outputs[team.id].carried_on_by, ['Healthwatch Lambeth', 'Lambeth Council, Adult Social Care']);
    // It reads with no server: opened from the folder, the photo shows.
    const reader = await (await browser.newContext()).newPage();
    await reader.goto(`file://${path.join(folder, 'export.html')}`);
    assert.deepEqual(await imageSize(reader, `img[src="photos/${photo}.jpg"]`), [1600, 1200]);
    await reader.context().close();
  });

  test('no page had a script error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
