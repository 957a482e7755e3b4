// The applicant capture page: privacy notice and consent, a photo of the ID document, a still selfie and a
// short video of the person following liveness prompts, then one upload. The server fills page.html and
// serves it under a strict Content-Security-Policy, so everything here is wired up by id, with no inline code.
'use strict';

const root = document.getElementById('capture');
const base = location.pathname.replace(/\/$/, '');
const config = {
  noticeVersion: root.dataset.noticeVersion,
  consented: root.dataset.consented === 'true',
  maxVideoBytes: Number(root.dataset.maxVideoBytes) || Infinity,
};

const DOCUMENT_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;
const VIDEO_TYPES = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm', 'video/mp4'];
const CAMERA_CONSTRAINTS = {
  video: { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 720 } },
  audio: false,
};
// The challenge says how long to record (`recording_s`, within the server's video limit); this only bounds
// a nonsensical answer.
const MAX_RECORDING_MS = 60000;
const RETRY_DELAYS_MS = [1000, 2000, 4000];
const MAX_RETRY_AFTER_MS = 30000;
const UPLOAD_TIMEOUT_MS = 180000;
const LINK_INVALID_CODES = ['capture_link_used', 'capture_link_expired', 'capture_link_not_found'];
// The person's own left and right: the recording is not mirrored and the server knows it.
const PROMPTS = {
  blink: 'Blink once',
  turn_left: 'Turn your head to your left, then back',
  turn_right: 'Turn your head to your right, then back',
};

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// What has been captured for the submission. Redoing a capture starts a new submission, so it drops the
// Idempotency-Key; retries of the same submission keep it.
const state = {
  step: null,
  documentFile: null,
  documentUrl: null,
  stream: null,
  selfie: null,
  video: null,
  challengeId: null,
  idempotencyKey: null,
  uploading: false,
};

// ---- steps ----

function showStep(id, { focus = true } = {}) {
  if (state.step === 'step-camera' && id !== 'step-camera') stopCamera();
  for (const section of document.querySelectorAll('main > .step')) section.hidden = section.id !== id;
  state.step = id;
  root.dataset.step = id;
  window.scrollTo(0, 0);
  // Moving focus to the heading tells screen-reader users that the page moved on.
  if (focus) $(id).querySelector('h1').focus();
  if (id === 'step-camera') enterCamera();
}

function showMessage(el, text) {
  el.textContent = text;
  el.hidden = false;
}

function hideMessage(el) {
  el.hidden = true;
  el.textContent = '';
}

function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', String(busy));
}

// ---- the API ----

async function postJson(path, body) {
  const init = { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(base + path, init);
  return { status: response.status, data: await response.json().catch(() => ({})) };
}

function isLinkInvalid(status, data) {
  return status === 410 || LINK_INVALID_CODES.includes(data.code);
}

// ---- notice and consent ----

async function agree() {
  const button = $('agree');
  hideMessage($('notice-error'));
  setBusy(button, true);
  try {
    const { status, data } = await postJson('/consent', { notice_version: config.noticeVersion });
    if (status === 200 || status === 201) return showStep('step-document');
    if (isLinkInvalid(status, data)) return showStep('step-invalid');
    showMessage($('notice-error'), `We could not record your answer (${data.title || `error ${status}`}). Please try again.`);
  } catch {
    showMessage($('notice-error'), 'We could not reach the service. Check your internet connection and try again.');
  } finally {
    setBusy(button, false);
  }
}

// ---- document photo ----

function documentProblem(file) {
  if (!DOCUMENT_TYPES.includes(file.type)) {
    return 'This file is not a JPEG, PNG or WebP photo. Please take the photo again or choose a photo in one of these formats.';
  }
  if (file.size === 0) return 'This file is empty. Please take or choose the photo again.';
  if (file.size > MAX_DOCUMENT_BYTES) {
    return 'This photo is larger than 10 MB. Please take it again at a lower resolution, or choose a smaller photo.';
  }
  return null;
}

function clearDocument() {
  if (state.documentUrl) URL.revokeObjectURL(state.documentUrl);
  state.documentFile = null;
  state.documentUrl = null;
  state.idempotencyKey = null;
  $('document-preview').removeAttribute('src');
  $('document-figure').hidden = true;
  $('document-next').disabled = true;
  hideMessage($('document-error'));
}

function chooseDocument() {
  clearDocument();
  const file = $('document-file').files[0];
  if (!file) return;
  const problem = documentProblem(file);
  if (problem) return showMessage($('document-error'), problem);
  state.documentUrl = URL.createObjectURL(file);
  const preview = $('document-preview');
  // Only a photo the browser can display may go on: it proves the file is an image at all.
  preview.onload = () => {
    state.documentFile = file;
    $('document-figure').hidden = false;
    $('document-next').disabled = false;
  };
  preview.onerror = () => {
    clearDocument();
    showMessage($('document-error'), 'This photo could not be opened. Please take or choose it again.');
  };
  preview.src = state.documentUrl;
}

function documentNext() {
  // After a refused document photo, a recording that is still held goes up again with the new photo.
  if (state.video) {
    showStep('step-upload');
    submit();
  } else {
    showStep('step-camera');
  }
}

// ---- camera ----

function cameraErrorKind(error) {
  const name = error?.name;
  if (['NotFoundError', 'OverconstrainedError', 'DevicesNotFoundError'].includes(name)) return 'no_camera';
  if (['NotAllowedError', 'SecurityError', 'PermissionDeniedError'].includes(name)) return 'camera_denied';
  return 'camera_failed';
}

function showCameraError(kind) {
  const box = $('camera-error');
  box.dataset.error = kind;
  for (const part of box.querySelectorAll('[data-kind]')) part.hidden = part.dataset.kind !== kind;
  box.hidden = false;
  $('viewer').hidden = true;
  $('start').hidden = true;
  box.scrollIntoView({ block: 'nearest' }); // on a phone it is below the step's text
}

function hideCameraError() {
  const box = $('camera-error');
  box.hidden = true;
  box.dataset.error = '';
  $('viewer').hidden = false;
  $('start').hidden = false;
}

function setPrompt(action, text, progress = '', index = '') {
  const prompt = $('prompt');
  prompt.dataset.index = String(index);
  prompt.dataset.action = action;
  $('prompt-progress').textContent = progress;
  $('prompt-text').textContent = text;
}

async function enterCamera() {
  hideCameraError();
  hideMessage($('record-error'));
  $('start').disabled = true;
  setPrompt('', 'Waiting for the camera…');
  if (!navigator.mediaDevices?.getUserMedia) return showCameraError('no_camera');
  if (typeof MediaRecorder === 'undefined') return showCameraError('recorder_unsupported');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(CAMERA_CONSTRAINTS);
  } catch (error) {
    return showCameraError(cameraErrorKind(error));
  }
  // The person may have left the step (or come back to it) while the browser was asking.
  if (state.step !== 'step-camera' || state.stream) return stopTracks(stream);
  state.stream = stream;
  for (const track of stream.getVideoTracks()) track.onended = () => cameraLost();
  const video = $('preview');
  video.srcObject = stream;
  video.play().catch(() => {}); // autoplay may be refused; the "loadeddata" wait below still ends
  await waitForFrames(video);
  if (state.stream !== stream) return;
  setPrompt('', 'When your face is inside the oval, press Start.');
  $('start').disabled = false;
}

// Resolves once the preview holds a frame, so that a still photo can be taken from it.
function waitForFrames(video) {
  if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA) return Promise.resolve();
  return new Promise((resolve) => video.addEventListener('loadeddata', resolve, { once: true }));
}

function cameraLost() {
  if (state.step !== 'step-camera') return;
  stopCamera();
  showCameraError('camera_failed');
}

function stopTracks(stream) {
  for (const track of stream.getTracks()) track.stop();
}

function stopCamera() {
  if (state.stream) stopTracks(state.stream);
  state.stream = null;
  $('preview').srcObject = null;
}

// ---- challenge, selfie and video ----

async function start() {
  const startButton = $('start');
  setBusy(startButton, true);
  $('camera-back').disabled = true;
  hideMessage($('record-error'));
  // Said first, so the person looks up from the button before the still photo is taken; on a phone the
  // prompts and the picture may be below the fold.
  setPrompt('lead_in', 'Look at the camera');
  $('viewer').scrollIntoView({ block: 'nearest' });
  try {
    const challenge = await fetchChallenge();
    if (!challenge) return;
    state.selfie = await takeSelfie($('preview'));
    state.video = await record(challenge);
    state.challengeId = challenge.challenge_id;
    state.idempotencyKey = null;
    if (state.video.size > config.maxVideoBytes) {
      state.video = null;
      return recordFailed('The video came out too large to send. Please press Start to record it again.');
    }
    showStep('step-upload');
    submit();
  } catch {
    recordFailed('The recording did not work. Please press Start to try again.');
  } finally {
    setBusy(startButton, false);
    $('camera-back').disabled = false;
  }
}

// The challenge, or null after showing why there is none.
async function fetchChallenge() {
  let response;
  try {
    response = await postJson('/challenge');
  } catch {
    recordFailed('We could not reach the service. Check your internet connection and press Start again.');
    return null;
  }
  const { status, data } = response;
  if (isLinkInvalid(status, data)) {
    showStep('step-invalid');
    return null;
  }
  const timed = Array.isArray(data.actions) && data.actions.every((a) => typeof a.action === 'string' && Number.isFinite(a.at_s));
  if ((status !== 200 && status !== 201) || !timed || !Number.isFinite(data.recording_s) || !data.challenge_id) {
    recordFailed(`We could not start (${data.title || `error ${status}`}). Please press Start again.`);
    return null;
  }
  return data;
}

function recordFailed(text) {
  root.classList.remove('recording');
  $('recording-badge').hidden = true;
  $('countdown').hidden = true;
  setPrompt('', 'When your face is inside the oval, press Start.');
  showMessage($('record-error'), text);
}

// The camera's own frame at its native size: the preview is only mirrored on screen.
function takeSelfie(video) {
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('no selfie'))), 'image/jpeg', 0.92);
  });
}

function recorderOptions() {
  const options = { videoBitsPerSecond: 2_500_000 };
  const mimeType = VIDEO_TYPES.find((type) => MediaRecorder.isTypeSupported(type));
  if (mimeType) options.mimeType = mimeType;
  return options;
}

// Records from the moment the recorder starts, and prompts each action at its `at_s` counted from that
// moment: the recording's first frame. Each prompt is timed from the start, not from the previous one, so
// timer delays do not add up.
async function record(challenge) {
  const recorder = new MediaRecorder(state.stream, recorderOptions());
  const chunks = [];
  recorder.ondataavailable = (event) => {
    if (event.data.size > 0) chunks.push(event.data);
  };
  const started = new Promise((resolve, reject) => {
    recorder.onstart = () => resolve(performance.now());
    recorder.onerror = (event) => reject(event.error);
  });
  const stopped = new Promise((resolve, reject) => {
    recorder.onstop = resolve;
    recorder.addEventListener('error', (event) => reject(event.error));
  });
  stopped.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
  recorder.start(1000);
  try {
    const origin = await started;
    root.classList.add('recording');
    $('recording-badge').hidden = false;
    await runPrompts(challenge, origin);
  } finally {
    if (recorder.state !== 'inactive') recorder.stop();
    root.classList.remove('recording');
    $('recording-badge').hidden = true;
  }
  await stopped;
  // The part's Content-Type without codec parameters: "video/webm" or "video/mp4".
  const type = (recorder.mimeType || 'video/webm').split(';')[0].trim();
  return new Blob(chunks, { type });
}

// The lead-in, then each prompt at origin + at_s until the next one (the last until the recording ends).
async function runPrompts(challenge, origin) {
  const actions = challenge.actions;
  const endMs = Math.min(challenge.recording_s * 1000, MAX_RECORDING_MS);
  $('countdown').hidden = false;
  const steps = [{ atMs: 0, show: () => setPrompt('lead_in', 'Look at the camera') }];
  for (const [i, { action, at_s: at }] of actions.entries()) {
    const text = PROMPTS[action] ?? action;
    steps.push({ atMs: at * 1000, show: () => setPrompt(action, text, `Prompt ${i + 1} of ${actions.length}`, i) });
  }
  for (const [i, step] of steps.entries()) {
    const until = Math.min(steps[i + 1]?.atMs ?? endMs, endMs);
    if (step.atMs >= endMs) break;
    await showUntil(origin, step.atMs, until, step.show);
  }
  $('countdown').hidden = true;
  setPrompt('', 'Done. Sending…');
}

// Waits for origin + fromMs, shows one prompt until origin + untilMs with a countdown of whole seconds
// and a shrinking bar.
async function showUntil(origin, fromMs, untilMs, show) {
  await sleep(origin + fromMs - performance.now());
  show();
  const end = origin + untilMs;
  const span = Math.max(untilMs - fromMs, 1);
  const tick = () => {
    const left = Math.max(0, end - performance.now());
    $('countdown-seconds').textContent = String(Math.ceil(left / 1000));
    $('countdown-bar').style.transform = `scaleX(${left / span})`;
  };
  tick();
  const timer = setInterval(tick, 100);
  await sleep(end - performance.now());
  clearInterval(timer);
}

// ---- upload ----

function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function submissionForm() {
  const form = new FormData();
  form.append('document', state.documentFile, state.documentFile.name || 'document');
  form.append('selfie', state.selfie, 'selfie.jpg');
  form.append('video', state.video, state.video.type === 'video/mp4' ? 'capture.mp4' : 'capture.webm');
  form.append('challenge_id', state.challengeId);
  return form;
}

function setProgress(fraction) {
  const percent = Math.round(fraction * 100);
  $('upload-progress').value = percent;
  $('upload-percent').textContent = `${percent}%`;
}

// One POST; resolves with the status (0 when the network failed), the JSON body and Retry-After in ms.
function sendOnce(form, key) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${base}/submission`);
    xhr.withCredentials = true;
    xhr.timeout = UPLOAD_TIMEOUT_MS;
    xhr.setRequestHeader('Idempotency-Key', key);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) setProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      let data = {};
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // A proxy's HTML error page: the status says enough.
      }
      resolve({ status: xhr.status, data, retryAfterMs: retryAfterMs(xhr.getResponseHeader('Retry-After')) });
    };
    xhr.onerror = xhr.ontimeout = () => resolve({ status: 0, data: {}, retryAfterMs: null });
    xhr.send(form);
  });
}

function retryAfterMs(header) {
  if (!header) return null;
  const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS) : null;
}

function isRetryable({ status, data }) {
  return status === 0 || status === 408 || status === 429 || status >= 500 || data.code === 'idempotency_conflict';
}

function resetUploadUi() {
  setProgress(0);
  $('upload-status').textContent = '';
  $('upload-error').hidden = true;
  $('upload-error-text').textContent = '';
  for (const id of ['upload-retry', 'redo-video', 'redo-document']) $(id).hidden = true;
}

async function submit() {
  if (state.uploading) return;
  state.uploading = true;
  state.idempotencyKey ??= newIdempotencyKey();
  resetUploadUi();
  const form = submissionForm();
  try {
    for (let attempt = 0; ; attempt++) {
      $('upload-status').textContent = attempt === 0 ? 'Sending…' : 'Connection problem, retrying…';
      const result = await sendOnce(form, state.idempotencyKey);
      if ([200, 201, 202].includes(result.status)) return finish();
      setProgress(0); // nothing was accepted: the bar must not say otherwise
      if (!isRetryable(result)) return showUploadProblem(result);
      if (attempt === RETRY_DELAYS_MS.length) break;
      $('upload-status').textContent = 'Connection problem, retrying…';
      await sleep(result.retryAfterMs ?? RETRY_DELAYS_MS[attempt]);
    }
    showUploadError('We could not send your photos and video. Check your internet connection, then press Try again.', ['upload-retry']);
  } finally {
    state.uploading = false;
  }
}

function showUploadError(text, buttons) {
  $('upload-status').textContent = '';
  $('upload-error-text').textContent = text;
  $('upload-error').hidden = false;
  for (const id of buttons) $(id).hidden = false;
}

// A refusal the person can act on: say what to redo and offer the way back. The detail may name the part
// ("part `video` exceeds its limit"); the still selfie is taken with the video, so it counts as the video.
function showUploadProblem({ status, data }) {
  const code = data.code || '';
  const detail = data.detail || '';
  const about = /selfie|video/i.test(detail) ? 'video' : /document/i.test(detail) ? 'document' : null;
  if (isLinkInvalid(status, data)) return showStep('step-invalid');
  // challenge_expired, challenge_not_found, challenge_invalid: a new challenge means a new recording.
  if (code.startsWith('challenge_')) {
    return showUploadError('The prompts for this video are no longer valid: they may have timed out. Please record the video again.', ['redo-video']);
  }
  if (code.startsWith('video_') || (code.startsWith('image_') && about === 'video')) {
    return showUploadError(`There was a problem with the video (${data.title || code}). Please record it again.`, ['redo-video']);
  }
  if (code.startsWith('image_')) {
    return showUploadError(`There was a problem with the document photo (${data.title || code}). Please take it again.`, ['redo-document']);
  }
  if (code === 'part_too_large' || code === 'body_too_large') {
    if (about === 'video') return showUploadError('The video is too large to send. Please record it again.', ['redo-video']);
    if (about === 'document') return showUploadError('The document photo is too large to send. Please take it again.', ['redo-document']);
    return showUploadError('A photo or the video is too large to send. Please take it again.', ['redo-document', 'redo-video']);
  }
  showUploadError(`${data.title || `The service answered with error ${status}`}. Please try again; if it keeps happening, contact the scheme.`, ['upload-retry']);
}

function redoVideo() {
  state.video = null;
  state.selfie = null;
  state.challengeId = null;
  state.idempotencyKey = null;
  showStep('step-camera');
}

function redoDocument() {
  $('document-file').value = '';
  clearDocument();
  showStep('step-document');
}

function finish() {
  stopCamera();
  clearDocument();
  state.selfie = null;
  state.video = null;
  showStep('step-done');
}

// ---- wiring ----

function init() {
  $('agree').addEventListener('click', agree);
  $('decline').addEventListener('click', () => showStep('step-declined'));
  $('reconsider').addEventListener('click', () => showStep('step-notice'));
  $('document-file').addEventListener('change', chooseDocument);
  $('document-next').addEventListener('click', documentNext);
  $('retry-camera').addEventListener('click', enterCamera);
  $('start').addEventListener('click', start);
  $('camera-back').addEventListener('click', () => showStep('step-document'));
  $('upload-retry').addEventListener('click', submit);
  $('redo-video').addEventListener('click', redoVideo);
  $('redo-document').addEventListener('click', redoDocument);
  window.addEventListener('pagehide', stopCamera);
  showStep(config.consented ? 'step-document' : 'step-notice', { focus: false });
}

init();
