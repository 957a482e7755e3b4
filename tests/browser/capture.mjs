// Drives the applicant capture page (/capture/{token}) in Debian's Chromium (headless, through
// playwright-core) as an applicant would, at one viewport width, and saves a screenshot of every step.
//
//   node tests/browser/capture.mjs MODE CAPTURE_URL WIDTH OUTDIR [DOCUMENT_IMAGE Y4M_FILE]
//
//   submit     agree (with the keyboard), choose DOCUMENT_IMAGE, camera from Y4M_FILE (Chromium's fake
//              device), Start, follow the prompts, upload; the first submission POST is failed here to prove
//              the automatic retry with the same Idempotency-Key; ends on the "Thank you" step. Each prompt
//              must appear at its `at_s` after the recording started (PROMPT_LATE_MS late at most, never early).
//   decline    "I do not agree" shows the alternative and sends nothing but GETs.
//   refused    CAPTURE_URL is a used or expired link: the error page and its code.
//   no-camera  no fake device (headless Chromium then has no camera): the "no camera" message. The consent
//              POST is answered here, so nothing reaches the server. Needs DOCUMENT_IMAGE only.
//   denied     fake device, permission prompts denied: the "camera blocked" message. Consent answered here.
//
// The viewport is WIDTH × 780 (WIDTH ≤ 480) or WIDTH × 900. On every step it checks that no control lacks an
// accessible name and that the page does not scroll sideways; any Content-Security-Policy violation or script
// error fails the run. Prints one JSON line with what the page showed; exits 1 (after a screenshot
// `WIDTH-MODE-failure.png`) on any failure, 2 on bad usage.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const USAGE = 'usage: node capture.mjs submit|decline|refused|no-camera|denied CAPTURE_URL WIDTH OUTDIR [DOCUMENT_IMAGE Y4M_FILE]';
const [mode, captureUrl, widthArg, outDir, documentImage, y4mFile] = process.argv.slice(2);
const width = Number(widthArg);
const needs = { submit: 2, decline: 0, refused: 0, 'no-camera': 1, denied: 2 };
if (!(mode in needs) || !captureUrl || !(width >= 280) || !outDir || [documentImage, y4mFile].slice(0, needs[mode]).some((a) => !a)) {
  console.error(USAGE);
  process.exit(2);
}
const height = width <= 480 ? 780 : 900;

const BASE_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--no-first-run', '--disable-sync', '--disable-quic',
];
const FAKE_CAMERA = ['--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4mFile}`];
const AUTOPLAY = ['--autoplay-policy=no-user-gesture-required'];
const MODE_ARGS = {
  submit: [...FAKE_CAMERA, '--use-fake-ui-for-media-stream', ...AUTOPLAY],
  decline: [],
  refused: [],
  'no-camera': AUTOPLAY,
  denied: [...FAKE_CAMERA, '--deny-permission-prompts', ...AUTOPLAY],
};
const ACTIONS = ['blink', 'turn_left', 'turn_right'];
// How late a prompt may appear after its `at_s`. The page sets a timer from the recorder's start for each
// prompt, so only that timer's delay separates the two: a few ms on an idle machine, up to a few frames
// when two cores are shared with the models. 250 ms is under the quickest human response (so a prompt
// this late still comes before anyone could act on it), 3 frames at the verdict's 12 per second, and a
// twelfth of the 3 s window. Never early: a timer does not fire before its time (EARLY_SLACK_MS covers
// the clock's rounding).
const PROMPT_LATE_MS = 250;
const EARLY_SLACK_MS = 5;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'idv-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [...BASE_ARGS, ...MODE_ARGS[mode]],
  viewport: { width, height },
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(20_000);

// Script errors and CSP violations (Chromium reports those on the console) fail the run.
const pageProblems = [];
page.on('pageerror', (error) => pageProblems.push(`script error: ${error.message}`));
page.on('console', (message) => {
  if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) pageProblems.push(message.text());
});

const shot = (name, fullPage = true) => page.screenshot({ path: join(outDir, `${width}-${name}.png`), fullPage });
const visible = (selector) => page.locator(selector).isVisible();

// The checks every step must pass: no page problems, every control named, no sideways scrolling.
async function checkStep(step) {
  check(pageProblems.length === 0, `on ${step}: ${pageProblems.join('; ')}`);
  const unnamed = await page.evaluate(() => {
    const text = (el) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();
    const name = (el) => {
      const by = el.getAttribute('aria-labelledby');
      if (by) return by.split(/\s+/).map((id) => text(document.getElementById(id))).join(' ').trim();
      if (el.getAttribute('aria-label')) return el.getAttribute('aria-label').trim();
      if (el.tagName === 'IMG') return el.getAttribute('alt') ?? '';
      if (el.labels?.length) return [...el.labels].map(text).join(' ').trim();
      if (el.tagName === 'BUTTON') return text(el);
      return (el.getAttribute('title') ?? '').trim();
    };
    return [...document.querySelectorAll('button, input, select, textarea, progress, video, img')]
      .filter((el) => !name(el))
      .map((el) => el.id || el.outerHTML.slice(0, 60));
  });
  check(unnamed.length === 0, `on ${step}: controls without an accessible name: ${unnamed.join(', ')}`);
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  check(scrollWidth <= width, `on ${step}: the page is ${scrollWidth} px wide at a ${width} px viewport`);
}

// After a step change the script moves focus to the step's heading.
async function checkFocusOn(stepId) {
  const focused = await page.evaluate(() => document.activeElement?.closest('.step')?.id + ' ' + document.activeElement?.tagName);
  check(focused === `${stepId} H1`, `focus is on ${focused}, not on the heading of ${stepId}`);
}

async function agreeAndChooseDocument({ keyboard }) {
  await page.locator('#step-notice').waitFor();
  if (keyboard) {
    await page.focus('#agree');
    await page.keyboard.press('Enter');
  } else {
    await page.click('#agree');
  }
  await page.locator('#step-document').waitFor();
  await checkFocusOn('step-document');
  await page.setInputFiles('#document-file', documentImage);
  await page.locator('#document-next:enabled').waitFor();
  const previewWidth = await page.$eval('#document-preview', (img) => (img.complete ? img.naturalWidth : 0));
  check(previewWidth > 0, 'the document preview did not load');
}

async function goToCamera() {
  await page.click('#document-next');
  await page.locator('#step-camera').waitFor();
  await checkFocusOn('step-camera');
}

// Answers the consent POST here, so that a camera-less run leaves no consent behind on the server.
async function answerConsentLocally() {
  await page.route('**/consent', (route) =>
    route.request().method() === 'POST'
      ? route.fulfill({ status: 201, contentType: 'application/json', body: '{}' })
      : route.continue());
}

// The Content-Type of the `video` part of a multipart body, or null when the body is not available.
function videoPartType(body) {
  if (!body) return null;
  const heads = body.toString('latin1').split(/\r\n--/).map((part) => part.slice(0, 400));
  const head = heads.find((h) => /name="video"/.test(h));
  return head ? (/content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? null) : null;
}

async function submitMode() {
  const submissions = [];
  let challenge = null;
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname.endsWith('/submission')) {
      submissions.push({ key: request.headers()['idempotency-key'], body: request.postDataBuffer() });
    }
  });
  page.on('response', async (response) => {
    if (response.request().method() === 'POST' && new URL(response.url()).pathname.endsWith('/challenge')) {
      challenge = await response.json().catch(() => null);
    }
  });

  await page.goto(captureUrl);
  await page.locator('#step-notice').waitFor();
  const noticeVersion = (await page.textContent('#notice-version')).trim();
  const dataVersion = await page.getAttribute('#capture', 'data-notice-version');
  check(noticeVersion !== '' && noticeVersion === dataVersion, `#notice-version "${noticeVersion}" differs from data-notice-version "${dataVersion}"`);
  await checkStep('notice');
  await shot('1-notice');

  await agreeAndChooseDocument({ keyboard: true });
  await checkStep('document');
  await shot('2-document');

  await goToCamera();
  // videoWidth > 0, then a moment of playing so that the screenshot shows a picture.
  await page.waitForFunction(() => {
    const video = document.getElementById('preview');
    return video.videoWidth > 0 && !video.paused && video.currentTime > 0.5;
  });
  await page.locator('#start:enabled').waitFor();
  const camera = await page.evaluate(() => {
    const box = (el) => el.getBoundingClientRect();
    const video = document.getElementById('preview');
    const guide = box(document.querySelector('.face-guide'));
    const view = box(video);
    return {
      mirrored: getComputedStyle(video).transform.startsWith('matrix(-1'),
      offset: Math.max(
        Math.abs(guide.left + guide.width / 2 - (view.left + view.width / 2)),
        Math.abs(guide.top + guide.height / 2 - (view.top + view.height / 2)),
      ),
      inside: guide.width < view.width && guide.height < view.height,
    };
  });
  check(camera.mirrored, 'the camera preview is not mirrored');
  check(camera.offset <= 2 && camera.inside, `the face guide is not centred inside the preview (${JSON.stringify(camera)})`);
  await checkStep('camera');
  await shot('3-camera');

  // The first submission fails as a dropped connection would; the page must retry on its own.
  let failedOne = false;
  await page.route('**/submission', (route) => {
    if (!failedOne && route.request().method() === 'POST') {
      failedOne = true;
      return route.abort('failed');
    }
    return route.continue();
  });
  // Every prompt shown, in order, as the page's own data-index and data-action say, and when: from the
  // moment the page marks itself recording (it does so as the recorder starts).
  await page.evaluate(() => {
    const prompt = document.getElementById('prompt');
    const root = document.getElementById('capture');
    window.shownPrompts = [];
    window.recordingAt = null;
    new MutationObserver(() => {
      if (window.recordingAt === null && root.classList.contains('recording')) window.recordingAt = performance.now();
    }).observe(root, { attributes: true, attributeFilter: ['class'] });
    new MutationObserver(() => {
      const { index, action } = prompt.dataset;
      const last = window.shownPrompts.at(-1);
      if (index !== '' && action && !(last && last.index === index && last.action === action)) {
        window.shownPrompts.push({ index, action, at: performance.now() });
      }
    }).observe(prompt, { attributes: true, attributeFilter: ['data-action', 'data-index'] });
  });

  await page.click('#start');
  await page.waitForFunction((actions) => actions.includes(document.getElementById('prompt').dataset.action), ACTIONS);
  const firstPrompt = (await page.textContent('#prompt-text')).trim();
  // While recording, the prompt and the picture must be on screen without scrolling.
  const viewer = await page.evaluate(() => {
    const box = document.getElementById('viewer').getBoundingClientRect();
    return { top: Math.round(box.top), bottom: Math.round(box.bottom), height: innerHeight };
  });
  check(viewer.top >= 0 && viewer.bottom <= viewer.height, `the prompts are not fully on screen while recording (${JSON.stringify(viewer)})`);
  await checkStep('challenge');
  await shot('4-challenge', false); // what the applicant sees, not the whole page

  await page.locator('#step-upload').waitFor({ timeout: 30_000 });
  await checkFocusOn('step-upload');
  await checkStep('upload');
  await shot('5-upload').catch(() => {}); // the upload may already be over: this one is optional

  await page.locator('#step-done').waitFor({ timeout: 90_000 });
  await checkFocusOn('step-done');
  await checkStep('done');
  await shot('6-done');
  const doneText = await page.innerText('main');
  check(!/\d[.,]\d/.test(doneText) && !/%/.test(doneText), `the done page shows a number that looks like a score: ${doneText}`);
  const cameraLive = await page.evaluate(() => Boolean(document.getElementById('preview').srcObject));
  check(!cameraLive, 'the camera is still attached on the done page');

  const { prompts, recordingAt } = await page.evaluate(() => ({ prompts: window.shownPrompts, recordingAt: window.recordingAt }));
  check(Array.isArray(challenge?.actions), 'no challenge response seen');
  check(recordingAt !== null, 'the page never marked itself recording');
  const asked = challenge.actions.map((a) => a.action);
  const shown = prompts.filter((p) => ACTIONS.includes(p.action));
  check(JSON.stringify(shown.map((p) => p.action)) === JSON.stringify(asked), `prompts shown ${shown.map((p) => p.action)} differ from the challenge ${asked}`);
  check(shown.every((p, i) => p.index === String(i)), `prompts shown out of turn: ${JSON.stringify(shown)}`);
  // Each prompt's lateness against its at_s, in ms from the recording's start.
  const lateMs = shown.map((p, i) => Math.round(p.at - recordingAt - challenge.actions[i].at_s * 1000));
  check(lateMs.every((ms) => ms >= -EARLY_SLACK_MS && ms <= PROMPT_LATE_MS), `prompts off the schedule by ${lateMs} ms (at_s ${challenge.actions.map((a) => a.at_s)})`);
  check(submissions.length >= 2, `only ${submissions.length} submission POST(s): the failed one was not retried`);
  const keys = new Set(submissions.map((s) => s.key));
  check(keys.size === 1 && /^[0-9a-f-]{36}$/i.test([...keys][0] ?? ''), `Idempotency-Key not one UUID across retries: ${[...keys]}`);
  return {
    mode,
    width,
    notice_version: noticeVersion,
    first_prompt: firstPrompt,
    actions_shown: asked,
    at_s: challenge.actions.map((a) => a.at_s),
    prompt_late_ms: lateMs,
    submission_attempts: submissions.length,
    idempotency_key_reused: true,
    video_mime: videoPartType(submissions.at(-1).body),
    done: true,
  };
}

async function declineMode() {
  const methods = [];
  page.on('request', (request) => methods.push(request.method()));
  await page.goto(captureUrl);
  await page.locator('#step-notice').waitFor();
  await checkStep('notice');
  await shot('decline-1');
  await page.focus('#decline');
  await page.keyboard.press('Enter');
  await page.locator('#step-declined').waitFor();
  await checkFocusOn('step-declined');
  check(!(await visible('#step-notice')), 'the notice is still shown after declining');
  const declineText = (await page.innerText('#step-declined')).trim();
  check(declineText.length > 40, 'the declined step shows no explanation');
  await checkStep('declined');
  await shot('decline-2');
  await page.waitForTimeout(500); // anything sent on declining would have left by now
  const posts = methods.filter((m) => m !== 'GET').length;
  check(posts === 0, `declining sent ${posts} non-GET request(s)`);
  await page.click('#reconsider');
  await page.locator('#step-notice').waitFor();
  await checkFocusOn('step-notice');
  return { mode, width, posts, requests: methods.length, declined_shown: true, reconsider_back_to_notice: true };
}

async function refusedMode() {
  const response = await page.goto(captureUrl);
  const code = (await page.textContent('#error-code')).trim();
  const title = (await page.textContent('#error-title')).trim();
  check(/^[a-z][a-z_]*$/.test(code), `#error-code is "${code}"`);
  check(title !== '', '#error-title is empty');
  check(!(await page.locator('#agree, #document-file, #start').count()), 'the error page offers the capture controls');
  await checkStep('refused');
  await shot(`refused-${code}`);
  return { mode, width, status: response.status(), code, title };
}

// no-camera and denied: the camera step must explain what is wrong, as data-error says.
async function cameraProblemMode(expected) {
  await answerConsentLocally();
  await page.goto(captureUrl);
  await agreeAndChooseDocument({ keyboard: false });
  await goToCamera();
  await page.locator('#camera-error:not([hidden]), #start:enabled').first().waitFor();
  const seen = await page.getAttribute('#camera-error', 'data-error');
  const devices = await page.evaluate(async () =>
    (await navigator.mediaDevices?.enumerateDevices?.() ?? []).filter((d) => d.kind === 'videoinput').length);
  check(seen === expected, `expected camera error "${expected}", the page shows "${seen || 'none'}" (${devices} camera(s) listed)`);
  check(await visible('#camera-error'), '#camera-error is not visible');
  check(!(await visible('#start')), 'Start is offered without a camera');
  const result = { mode, width, camera_error: seen, cameras_listed: devices };
  if (expected === 'camera_denied') {
    check(await visible('#retry-camera'), 'no #retry-camera button');
    await page.click('#retry-camera');
    await page.waitForTimeout(500);
    result.after_retry = await page.getAttribute('#camera-error', 'data-error');
  }
  await checkStep(mode);
  await shot(mode);
  return result;
}

const run = {
  submit: submitMode,
  decline: declineMode,
  refused: refusedMode,
  'no-camera': () => cameraProblemMode('no_camera'),
  denied: () => cameraProblemMode('camera_denied'),
}[mode];

try {
  const result = await run();
  check(pageProblems.length === 0, pageProblems.join('; '));
  console.log(JSON.stringify(result));
} catch (e) {
  await page.screenshot({ path: join(outDir, `${width}-${mode}-failure.png`), fullPage: true }).catch(() => {});
  console.error(`capture.mjs ${mode}: ${e.message}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
