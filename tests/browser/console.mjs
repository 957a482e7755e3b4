// Drives the reviewer console in Debian's Chromium (headless, through playwright-core), as a reviewer
// would: sign in with a TOTP code computed here, open the queue, open the case, check that both faces
// loaded and the similarity and thresholds are shown, resolve it, and save screenshots.
//
//   node tests/browser/console.mjs BASE USERNAME PASSWORD TOTP_SECRET CASE_ID OUTDIR [VIDEO_CASE_ID]
//
// With VIDEO_CASE_ID, it also opens that case (a liveness video's) and plays its video from the console's
// own media route, waiting until the browser has decoded a frame (readyState >= 2).
//
// Run by tests/service/console.rs, which starts the server and checks the outcome through the API. Prints one
// JSON line with what the page showed; exits 1 (after a screenshot `failure.png`) on any failure.

import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, username, password, secretB32, caseId, outDir, videoCaseId] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node console.mjs BASE USERNAME PASSWORD TOTP_SECRET CASE_ID OUTDIR');
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
  viewport: { width: 1366, height: 768 },
});
const page = context.pages()[0] ?? (await context.newPage());
const result = {};
try {
  // Unauthenticated: the queue sends the browser to the sign-in page and shows no case.
  await page.goto(`${base}/review/queue`);
  check(new URL(page.url()).pathname === '/review/signin', `unauthenticated queue went to ${page.url()}`);
  check(!(await page.content()).includes(caseId), 'the sign-in page shows a case id');
  result.unauthenticated_redirected = true;

  // Sign in: password and the current TOTP code.
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.fill('input[name=code]', totp(base32Decode(secretB32), Date.now() / 1000));
  await Promise.all([page.waitForURL(`${base}/review/queue`), page.click('button[type=submit]')]);

  // The queue lists the case.
  const link = page.locator(`a[href="/review/cases/${caseId}"]`);
  check((await link.count()) === 1, 'the queue does not list the case');
  await page.screenshot({ path: join(outDir, 'queue.png'), fullPage: true });

  // A video case: the liveness video plays from the console's route.
  if (videoCaseId) {
    await page.goto(`${base}/review/cases/${videoCaseId}`);
    const src = await page.$eval('#video-clip', (v) => v.getAttribute('src'));
    check(src === `/review/cases/${videoCaseId}/media/video`, `the video points at ${src}`);
    await page.$eval('#video-clip', (v) => {
      v.muted = true;
      return v.play();
    });
    await page.waitForFunction(() => document.querySelector('#video-clip').readyState >= 2, null, { timeout: 15000 });
    result.video_ready_state = await page.$eval('#video-clip', (v) => v.readyState);
    result.video_width = await page.$eval('#video-clip', (v) => v.videoWidth);
    await page.screenshot({ path: join(outDir, 'case-video.png'), fullPage: true });
    await page.goto(`${base}/review/queue`);
  }

  // The case page: both faces loaded, the similarity and its thresholds shown.
  await Promise.all([page.waitForURL(`${base}/review/cases/${caseId}`), link.click()]);
  await page.waitForLoadState('load');
  for (const kind of ['document', 'selfie']) {
    const width = await page.$eval(`#${kind}-image`, (img) => (img.complete ? img.naturalWidth : 0));
    check(width > 0, `the ${kind} image did not load`);
    result[`${kind}_width`] = width;
  }
  for (const [key, selector] of [['similarity', '#similarity'], ['match_at', '#match-at'], ['no_match_below', '#no-match-below']]) {
    const text = (await page.textContent(selector))?.trim() ?? '';
    check(/^-?\d+\.\d+$/.test(text), `${selector} shows "${text}", not a number`);
    result[key] = Number(text);
  }
  await page.screenshot({ path: join(outDir, 'case.png'), fullPage: true });

  // Resolve it.
  await page.check('input[name=outcome][value=confirmed_mismatch]');
  await page.fill('textarea[name=reason]', 'Different people: face shape, ears and hairline differ.');
  await Promise.all([
    page.waitForURL(`${base}/review/cases/${caseId}`),
    page.click('form[action$="/resolution"] button[type=submit]'),
  ]);
  result.outcome_shown = (await page.textContent('#outcome'))?.trim();
  check(result.outcome_shown === 'confirmed_mismatch', `the page shows outcome ${result.outcome_shown}`);
  await page.screenshot({ path: join(outDir, 'case-resolved.png'), fullPage: true });
  console.log(JSON.stringify(result));
} catch (e) {
  await page.screenshot({ path: join(outDir, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`console.mjs: ${e.message}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
