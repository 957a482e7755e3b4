// Drives the reviewer console in Debian's Chromium (headless, through playwright-core), as a reviewer
// would: sign in with a TOTP code computed here, read the queue (every case says why it is there), open a
// still-image case (the faces as aligned crops), a liveness-video case (the clip plays from the console's
// own route, its key frames load), an invigilation case (its evidence frames load), then resolve the still
// case with "record and open next". Every page is checked with axe-core (no serious or critical
// violation) and at 390 px for sideways scrolling, and saved as screenshots at 1280×800 and 390×844.
//
//   node tests/browser/console.mjs BASE USERNAME PASSWORD TOTP_SECRET CASE_ID OUTDIR VIDEO_CASE_ID INVIGILATION_CASE_ID
//
// Run by tests/service/console.rs, which starts the server and checks the outcome through the API and the
// audit log. Prints one JSON line with what the pages showed; exits 1 (after a screenshot `failure.png`)
// on any failure.

import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

const [base, username, password, secretB32, caseId, outDir, videoCaseId, invigilationCaseId] =
  process.argv.slice(2);
if (!invigilationCaseId) {
  console.error('usage: node console.mjs BASE USERNAME PASSWORD TOTP_SECRET CASE_ID OUTDIR VIDEO_CASE_ID INVIGILATION_CASE_ID');
  process.exit(2);
}

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

// RFC 6238: HMAC-SHA-1, 30-second steps, 6 digits.
function totp(secret, unixSecs) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSecs / 30)));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'idv-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-sync', '--disable-quic',
  ],
  viewport: { width: 1280, height: 800 },
  // axe-core is injected as a script; the console's CSP (rightly) allows none from elsewhere.
  bypassCSP: true,
});
const page = context.pages()[0] ?? (await context.newPage());
const result = { axe: {}, sideways: {} };

// axe-core on the page as it is: WCAG 2 A/AA rules; any serious or critical violation fails the run.
async function accessible(name) {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0]?.target }));
  });
  const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  result.axe[name] = found.map((v) => `${v.id}:${v.impact}`);
  check(bad.length === 0, `axe on ${name}: ${JSON.stringify(bad)}`);
}

// Screenshots at 1280×800 and 390×844 of the page as it is (no reload: no new audited view); at 390 px
// the page must not scroll sideways.
async function shots(name) {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: join(outDir, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  result.sideways[name] = width;
  check(width <= 390, `${name} is ${width} px wide at 390 px`);
  await page.screenshot({ path: join(outDir, `${name}-390.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function loaded(selector) {
  await page.waitForFunction(
    (sel) => [...document.querySelectorAll(sel)].every((img) => img.complete),
    selector,
    { timeout: 60000 },
  );
  return page.$$eval(selector, (imgs) => imgs.map((img) => img.naturalWidth));
}

// Lazy images load when they come into view: bring each into view in turn.
async function loadLazy(selector) {
  for (const img of await page.$$(selector)) await img.scrollIntoViewIfNeeded();
  return loaded(selector);
}

try {
  // Unauthenticated: the queue sends the browser to the sign-in page and shows no case.
  await page.goto(`${base}/review/queue`);
  check(new URL(page.url()).pathname === '/review/signin', `unauthenticated queue went to ${page.url()}`);
  check(!(await page.content()).includes(caseId), 'the sign-in page shows a case id');
  result.unauthenticated_redirected = true;
  await accessible('signin');
  await shots('signin');

  // Sign in: password and the current TOTP code.
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.fill('input[name=code]', totp(base32Decode(secretB32), Date.now() / 1000));
  await Promise.all([page.waitForURL(`${base}/review/queue`), page.click('button[type=submit]')]);

  // The queue lists the three cases, oldest first, each saying why it is there.
  for (const id of [caseId, videoCaseId, invigilationCaseId]) {
    check((await page.locator(`a[href="/review/cases/${id}"]`).count()) === 1, `the queue does not list ${id}`);
  }
  const whys = await page.$$eval('table.queue tbody tr', (rows) =>
    rows.map((r) => [r.querySelector('a.open').getAttribute('href'), r.querySelector('td.why').textContent.trim()]));
  check(whys.every(([, why]) => why.length > 0), `a case without a reason: ${JSON.stringify(whys)}`);
  result.queue = whys;
  await accessible('queue');
  await shots('queue');

  // The still case: both faces as aligned crops of one size; the similarity and thresholds in words.
  await page.goto(`${base}/review/cases/${caseId}`);
  const crops = await loaded('img.crop');
  check(crops.length === 2 && crops.every((w) => w === crops[0] && w >= 320), `crops ${crops}`);
  result.crop_widths = crops;
  for (const [key, selector] of [['similarity', '#similarity'], ['match_at', '#match-at'], ['no_match_below', '#no-match-below']]) {
    const text = (await page.textContent(selector))?.trim() ?? '';
    check(/^-?\d+\.\d+$/.test(text), `${selector} shows "${text}", not a number`);
    result[key] = Number(text);
  }
  result.similarity_words = (await page.textContent('#similarity-words'))?.trim();
  await accessible('case-still');
  await shots('case-still');

  // The video case: the clip plays from the console's route; the live face and the key frames load.
  await page.goto(`${base}/review/cases/${videoCaseId}`);
  const src = await page.$eval('#video-clip', (v) => v.getAttribute('src'));
  check(src === `/review/cases/${videoCaseId}/media/video`, `the video points at ${src}`);
  await page.$eval('#video-clip', (v) => {
    v.muted = true;
    return v.play();
  });
  await page.waitForFunction(() => document.querySelector('#video-clip').readyState >= 2, null, { timeout: 30000 });
  result.video_ready_state = await page.$eval('#video-clip', (v) => v.readyState);
  result.video_width = await page.$eval('#video-clip', (v) => v.videoWidth);
  await page.$eval('#video-clip', (v) => v.pause());
  const keyFrames = await loadLazy('#key-frames img');
  check(keyFrames.length >= 2 && keyFrames.every((w) => w > 0), `key frames ${keyFrames}`);
  result.key_frames = keyFrames.length;
  result.video_crop_width = (await loaded('#video-face'))[0];
  await accessible('case-video');
  await shots('case-video');

  // The invigilation case: its evidence frames, in order.
  await page.goto(`${base}/review/cases/${invigilationCaseId}`);
  const evidence = await loadLazy('#evidence-frames img');
  check(evidence.length >= 3 && evidence.every((w) => w > 0), `evidence frames ${evidence}`);
  result.evidence_frames = evidence.length;
  await accessible('case-invigilation');
  await shots('case-invigilation');

  // Resolve the still case and open the next: the browser lands on another case, never this one again.
  await page.goto(`${base}/review/cases/${caseId}`);
  await loaded('img.crop');
  await page.check('input[name=outcome][value=confirmed_mismatch]');
  await page.fill('textarea[name=reason]', 'Different people: face shape, ears and hairline differ.');
  await Promise.all([page.waitForURL(/\/review\/cases\//), page.click('#resolve-next')]);
  const landed = new URL(page.url()).pathname;
  check(landed !== `/review/cases/${caseId}`, 'resolving went back to the resolved case');
  result.next_case = landed.split('/').pop();
  await page.waitForLoadState('load');
  console.log(JSON.stringify(result));
} catch (e) {
  await page.screenshot({ path: join(outDir, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`console.mjs: ${e.message}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
