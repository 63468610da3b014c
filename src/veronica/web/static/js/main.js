/**
 * The page flows. Sign-in and enrollment share one state machine:
 *
 *   idle → camera → session → positioning → challenge → decided
 *                 ↘ error (from any step; retry goes back to camera)
 *
 * `<body data-state>` mirrors it for styling and end-to-end tests, with
 * `decided` reported as the result itself (`signed_in`, `enrolled`,
 * `refused`) and `data-reason` carrying the reason or error code; during a
 * session `data-light-mode` is its light (`flash`, `gentle`, `none`) and
 * `data-acknowledged` the number of challenge steps the server has seen.
 * The result page verifies the token this tab received and shows who it names.
 * @module main
 */

import {
  createSession,
  fetchAuthorizationRequest,
  fetchConfig,
  SessionConnection,
  verifyToken,
} from './api.js';
import { AppError, asAppError } from './errors.js';
import { FrameCapturer, FrameProcessor } from './frames.js';
import { Catalogue, FALLBACK, loadCatalogue, pickLanguage, translateDocument } from './i18n.js';
import { StatusView } from './status.js';
import { CaptureUi } from './ui.js';
import { VideoController } from './video.js';

const TOKEN_KEY = 'veronica.result_token';
const NO_FLASH_KEY = 'veronica.no_flash';
/** Long enough to read "Signed in", short enough not to wait for nothing. */
const CONTINUE_DELAY_MS = 1500;
/** The server ends an expired session itself; the page's own timer is only the backstop. */
const EXPIRY_GRACE_MS = 3000;

/** @typedef {import('./api.js').State} State */
/** @typedef {import('./api.js').Result} Result */
/** @typedef {'idle' | 'camera' | 'session' | 'positioning' | 'challenge' | 'decided' | 'error'} FlowState */

/** @type {Record<FlowState, readonly FlowState[]>} */
const TRANSITIONS = {
  idle: ['camera', 'error'],
  camera: ['session', 'error', 'idle'],
  session: ['positioning', 'challenge', 'decided', 'error', 'idle'],
  positioning: ['challenge', 'decided', 'error', 'idle'],
  challenge: ['decided', 'error', 'idle'],
  decided: ['camera', 'idle'],
  error: ['camera', 'idle'],
};

const params = new URLSearchParams(location.search);

/**
 * A same-page link that keeps `?lang=`.
 * @param {string} path
 * @returns {string}
 */
function withLang(path) {
  const lang = params.get('lang');
  return lang ? `${path}?${new URLSearchParams({ lang })}` : path;
}

/**
 * Only web URLs may be followed after sign-in (never `javascript:` and the like).
 * @param {string | null | undefined} target
 * @returns {string | null}
 */
function safeRedirect(target) {
  if (!target) return null;
  try {
    const url = new URL(target, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * @param {string} id a data-testid
 * @returns {HTMLElement}
 */
function byTestId(id) {
  const el = document.querySelector(`[data-testid="${id}"]`);
  if (!(el instanceof HTMLElement)) throw new Error(`missing element ${id}`);
  return el;
}

/**
 * Set (or, with null, remove) a `data-*` attribute of <body>.
 * @param {string} name camelCase dataset name
 * @param {string | null} value
 */
function mark(name, value) {
  if (value === null) delete document.body.dataset[name];
  else document.body.dataset[name] = value;
}

/** Sign-in (`data-page="signin"`) and enrollment (`data-page="enroll"`). */
class CaptureFlow {
  /**
   * @param {'signin' | 'enroll'} page
   * @param {Catalogue} catalogue
   */
  constructor(page, catalogue) {
    this.page = page;
    this.catalogue = catalogue;
    /** @type {FlowState} */
    this.state = 'idle';
    /** Bumped by every start and cancel, so a superseded attempt's awaits stop. */
    this.attempt = 0;
    this.enrollmentToken = params.get('token');
    this.returnTo = params.get('return_to');
    /** An OpenID Connect authorization request this sign-in answers (`?oidc=`). */
    this.oidcRequest = this.page === 'signin' ? params.get('oidc') : null;
    /** @type {string | null} */
    this.sessionId = null;
    this.form = /** @type {HTMLFormElement} */ (byTestId('start-form'));
    this.noFlash = /** @type {HTMLInputElement} */ (byTestId('no-flash'));
    this.flashWarning = byTestId('flash-warning');
    /** The service's light policy; until it is known, no opt-out is offered. */
    this.lightPolicy = 'required';
    /** The session shows the gentle light (the person opted out of flashing). */
    this.gentleLight = false;
    /** Challenge steps the server said it has seen (`State.acknowledged`). */
    this.acknowledged = 0;
    /** "Good." stays up from a step's acknowledgement until the next prompt or colour. */
    this.stepDone = false;
    this.switchButton = /** @type {HTMLButtonElement} */ (byTestId('camera-switch'));
    this.retryButton = /** @type {HTMLButtonElement} */ (byTestId('retry-button'));
    this.backButton = /** @type {HTMLButtonElement} */ (byTestId('back-button'));
    this.nextLink = /** @type {HTMLAnchorElement} */ (
      byTestId(page === 'enroll' ? 'signin-link' : 'continue-link')
    );
    this.status = new StatusView(document);
    this.ui = new CaptureUi({
      stage: byTestId('stage'),
      guide: /** @type {HTMLCanvasElement} */ (byTestId('oval')),
      overlay: /** @type {HTMLCanvasElement} */ (byTestId('light-overlay')),
      icon: /** @type {HTMLImageElement} */ (byTestId('action-icon')),
    });
    this.camera = new VideoController(/** @type {HTMLVideoElement} */ (byTestId('video')), {
      onLost: () => this.fail(new AppError('camera_lost')),
    });
    /** @type {SessionConnection | null} */
    this.connection = null;
    /** @type {FrameProcessor | null} */
    this.processor = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.expiryTimer = undefined;
  }

  /** @param {string} key @param {Record<string, string | number>} [values] */
  t(key, values) {
    return this.catalogue.t(key, values);
  }

  /**
   * The message for a code under `prefix`, or the fallback key's if the code is new to us.
   * @param {string} prefix
   * @param {string} code
   * @param {string} fallbackKey
   */
  message(prefix, code, fallbackKey) {
    const key = `${prefix}.${code}`;
    return this.t(this.catalogue.has(key) ? key : fallbackKey);
  }

  init() {
    this.noFlash.checked = localStorage.getItem(NO_FLASH_KEY) === '1';
    this.showLightPolicy();
    fetchConfig()
      .then((config) => {
        this.lightPolicy = config.light_challenge;
        this.showLightPolicy();
      })
      .catch((error) => console.error(error));
    this.noFlash.addEventListener('change', () => {
      localStorage.setItem(NO_FLASH_KEY, this.noFlash.checked ? '1' : '0');
    });
    const username = this.form.elements.namedItem('username');
    if (username instanceof HTMLInputElement) username.value = params.get('username') ?? '';
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.start();
    });
    this.retryButton.addEventListener('click', () => this.start());
    this.backButton.addEventListener('click', () => {
      this.go('idle');
      byTestId('start-button').focus();
    });
    byTestId('cancel-button').addEventListener('click', () => this.cancel());
    this.switchButton.addEventListener('click', () => this.switchCamera());
    this.nextLink.href = withLang(this.nextLink.pathname);
    if (this.oidcRequest) this.showRelyingSite(this.oidcRequest);
    mark('state', 'idle');
    if (this.page === 'enroll') {
      // The one-time token should not linger in the address bar or history.
      history.replaceState(null, '', withLang(location.pathname));
      if (!this.enrollmentToken) this.fail(new AppError('enrollment_link_invalid'));
    }
  }

  /**
   * Say which site asks for this sign-in, and offer to go back to it.
   * @param {string} requestId
   */
  showRelyingSite(requestId) {
    const panel = byTestId('oidc-client');
    mark('oidc', 'loading');
    fetchAuthorizationRequest(requestId)
      .then((about) => {
        byTestId('oidc-client-name').textContent = this.t('oidc.asks', {
          site: about.client_name,
          host: about.redirect_host,
        });
        const cancel = /** @type {HTMLAnchorElement} */ (byTestId('oidc-cancel'));
        cancel.href = about.cancel_url;
        panel.hidden = false;
        const username = this.form.elements.namedItem('username');
        if (about.login_hint && username instanceof HTMLInputElement && !username.value) {
          username.value = about.login_hint;
        }
        mark('oidc', 'ready');
      })
      .catch((error) => {
        mark('oidc', 'invalid');
        this.fail(error);
      });
  }

  /** The opt-out only where the service allows it; no warning when no colours show. */
  showLightPolicy() {
    mark('lightPolicy', this.lightPolicy);
    this.flashWarning.hidden = this.lightPolicy === 'off';
    const optOut = this.noFlash.closest('label');
    if (optOut) optOut.hidden = this.lightPolicy !== 'optional';
  }

  /**
   * @param {FlowState} next
   */
  go(next) {
    if (!TRANSITIONS[this.state].includes(next)) {
      throw new Error(`invalid transition ${this.state} → ${next}`);
    }
    this.state = next;
    if (next !== 'decided') mark('state', next);
    if (next !== 'decided' && next !== 'error') mark('reason', null);
  }

  async start() {
    if (!TRANSITIONS[this.state].includes('camera')) return; // already running
    const attempt = ++this.attempt;
    const stale = () => attempt !== this.attempt;
    this.status.clear();
    this.ui.reset();
    mark('lightMode', null);
    this.go('camera');
    this.status.instruct(this.t('status.camera'), { now: true });
    try {
      await this.camera.start();
      if (stale()) return;
      this.ui.setVideoSize(this.camera.size.width, this.camera.size.height);
      this.switchButton.hidden = !this.camera.canSwitch;

      this.go('session');
      this.status.instruct(this.t('status.session'));
      const username = this.form.elements.namedItem('username');
      const { session, deadlineMs } = await createSession({
        username: username instanceof HTMLInputElement ? username.value.trim() : null,
        enrollmentToken: this.page === 'enroll' ? this.enrollmentToken : null,
        light: !(this.lightPolicy === 'optional' && this.noFlash.checked),
        returnTo: this.returnTo,
        oidcRequest: this.oidcRequest,
      });
      if (stale()) return;
      this.sessionId = session.session_id;
      this.gentleLight = session.light === 'gentle';
      this.acknowledged = 0;
      this.stepDone = false;
      mark('lightMode', session.light ?? null);
      this.ui.setGentle(this.gentleLight);
      this.ui.setOval(session.oval);
      const connection = new SessionConnection(session, {
        onState: (state) => this.onState(state),
        onError: (error) => this.fail(error),
        onTransport: (kind) => mark('transport', kind),
      });
      this.connection = connection;
      await connection.open();
      if (stale()) return;
      this.expiryTimer = setTimeout(
        () => this.fail(new AppError('session_expired')),
        Math.max(0, deadlineMs - performance.now()) + EXPIRY_GRACE_MS,
      );
      this.onState(session.state);
      if (this.state === 'decided' || this.state === 'error') return;
      this.processor = new FrameProcessor({
        capturer: new FrameCapturer(this.camera.video, session.limits),
        send: (timeMs, jpeg, timeoutMs) => connection.send(timeMs, jpeg, timeoutMs),
        maxFps: session.limits.max_fps,
        onError: (error) => this.fail(error),
      });
      this.processor.start();
    } catch (error) {
      if (!stale()) this.fail(error);
    }
  }

  cancel() {
    this.attempt += 1;
    this.stopCapture();
    this.go('idle');
  }

  async switchCamera() {
    try {
      await this.camera.switchCamera();
      this.ui.setVideoSize(this.camera.size.width, this.camera.size.height);
    } catch (error) {
      this.fail(error);
    }
  }

  /** @param {State} state */
  onState(state) {
    const live = this.state === 'session' || this.state === 'positioning' || this.state === 'challenge';
    if (!live || state?.type !== 'state') return;
    if (this.processor?.rttMs != null) mark('rtt', String(Math.round(this.processor.rttMs)));
    if (state.phase === 'decided') {
      this.decide(state.result);
      return;
    }
    if (state.phase === 'positioning') this.showPositioning(state);
    else if (state.phase === 'challenge') this.showChallenge(state);
    mark('placed', String(Boolean(state.placed)));
    mark('action', state.action ?? null);
    this.ui.update({ placed: Boolean(state.placed), action: state.action, light: state.light });
    this.status.progress(state.progress);
  }

  /** @param {State} state */
  showPositioning(state) {
    if (this.state !== 'positioning') this.go('positioning');
    const [first, second] = state.hints ?? [];
    mark('hint', first ?? null);
    if (first) this.status.instruct(this.message('hint', first, 'status.positioning'));
    else this.status.instruct(this.t(state.placed ? 'status.placed' : 'status.positioning'));
    this.status.hint(second ? this.message('hint', second, 'status.positioning') : '');
  }

  /** @param {State} state */
  showChallenge(state) {
    mark('hint', null);
    const entering = this.state !== 'challenge';
    if (entering) {
      this.go('challenge');
      // Camera changes mid-challenge would break the checks.
      this.switchButton.hidden = true;
    }
    // A step the server has seen is withdrawn: say so, so a person who barely
    // moved knows the difference between "done" and "do more". The words stay
    // until the next prompt (each state would otherwise replace them at once).
    const seen = state.acknowledged ?? this.acknowledged;
    const done = seen > this.acknowledged;
    this.acknowledged = seen;
    if (done) this.stepDone = true;
    else if (state.action || state.light) this.stepDone = false;
    mark('acknowledged', String(seen));
    let text = this.t('status.challenge');
    if (state.light) text = this.t(this.gentleLight ? 'status.gentle_light' : 'status.light');
    else if (state.action) text = this.message('action', state.action, 'status.challenge');
    else if (this.stepDone) text = this.t('status.step_done');
    this.status.instruct(text, { now: entering || Boolean(state.action) || done });
    const [first] = state.hints ?? [];
    this.status.hint(first ? this.message('hint', first, 'status.challenge') : '');
  }

  /** @param {Result | null} result */
  decide(result) {
    if (!result) {
      this.fail(new AppError('unknown', 'decided without a result'));
      return;
    }
    this.stopCapture();
    this.go('decided');
    mark('state', result.status);
    mark('reason', result.reason);
    this.status.progress(1);
    if (this.oidcRequest && this.sessionId) {
      this.returnToSite(result, this.oidcRequest, this.sessionId);
      return;
    }
    this.showNextSteps({ next: result.status !== 'refused', retry: result.status === 'refused' });
    if (result.status === 'signed_in') this.signedIn(result);
    else if (result.status === 'enrolled') {
      this.status.outcome({
        title: this.t('result.enrolled.title'),
        message: this.t('result.enrolled.message'),
      });
    } else {
      this.status.outcome({
        title: this.t('result.refused.title'),
        message: this.message('reason', result.reason, 'reason.unknown'),
        help: this.t('result.refused.help'),
      });
    }
  }

  /**
   * Which ways on the outcome panel offers.
   * @param {{next: boolean, retry: boolean}} ways `next`: continue / sign in; `retry`: try again or go back
   */
  showNextSteps({ next, retry }) {
    this.nextLink.hidden = !next;
    this.retryButton.hidden = !retry;
    this.backButton.hidden = !retry;
    // Keyboard users land on the way forward (the panel they were on is gone).
    (retry ? this.retryButton : next ? this.nextLink : null)?.focus();
  }

  /**
   * Back to the site that asked: the server answers it with a code (signed in) or
   * `access_denied` (refused); this page only says which and goes.
   * @param {Result} result
   * @param {string} requestId
   * @param {string} sessionId
   */
  returnToSite(result, requestId, sessionId) {
    const signedIn = result.status === 'signed_in';
    this.status.outcome({
      title: this.t(signedIn ? 'result.signed_in.title' : 'result.refused.title'),
      message: signedIn
        ? this.t('result.signed_in.message', { username: result.username ?? '' })
        : this.message('reason', result.reason, 'reason.unknown'),
      help: this.t('oidc.returning'),
    });
    this.showNextSteps({ next: false, retry: false });
    const target = `/oidc/authorize/finish?${new URLSearchParams({ request: requestId, session: sessionId })}`;
    setTimeout(() => location.assign(target), CONTINUE_DELAY_MS);
  }

  /** @param {Result} result */
  signedIn(result) {
    const redirect = safeRedirect(result.redirect);
    this.status.outcome({
      title: this.t('result.signed_in.title'),
      message: this.t('result.signed_in.message', { username: result.username ?? '' }),
      help: this.t('result.signed_in.help'),
    });
    // With a return_to the token travels in the redirect's fragment; otherwise this
    // tab keeps it for the result page.
    if (result.token && !redirect) sessionStorage.setItem(TOKEN_KEY, result.token);
    const target = redirect ?? this.nextLink.href;
    this.nextLink.href = target;
    setTimeout(() => location.assign(target), CONTINUE_DELAY_MS);
  }

  /** @param {unknown} error */
  fail(error) {
    if (this.state === 'error' || this.state === 'decided') return;
    const appError = asAppError(error);
    console.error(appError);
    this.attempt += 1;
    this.stopCapture();
    this.go('error');
    mark('reason', appError.code);
    // Without a valid link, trying again cannot help.
    this.showNextSteps({ next: false, retry: appError.code !== 'enrollment_link_invalid' });
    this.status.outcome({
      title: this.t('result.error.title'),
      message: this.message('error', appError.code, 'error.unknown'),
    });
  }

  /** Release everything a capture holds: frames, connection, camera, overlay. */
  stopCapture() {
    clearTimeout(this.expiryTimer);
    this.processor?.stop();
    this.processor = null;
    this.connection?.close();
    this.connection = null;
    this.camera.stop();
    this.ui.reset();
    this.switchButton.hidden = true;
    mark('placed', null);
    mark('action', null);
    mark('hint', null);
    mark('acknowledged', null);
  }
}

/**
 * The result page: who does this tab's token name, according to the server?
 * States: verifying → signed_in | signed_out | error.
 * @param {Catalogue} catalogue
 */
async function showResult(catalogue) {
  const status = byTestId('result-status');
  const user = byTestId('result-username');
  const expiry = byTestId('result-expiry');
  const signOut = byTestId('signout-button');
  const signInLink = /** @type {HTMLAnchorElement} */ (byTestId('signin-link'));
  signInLink.href = withLang('/');
  signOut.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.assign(withLang('/'));
  });
  /** @param {string} state @param {string} text @param {string | null} [reason] */
  const show = (state, text, reason = null) => {
    mark('state', state);
    mark('reason', reason);
    status.textContent = text;
  };

  show('verifying', catalogue.t('resultpage.verifying'));
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    show('signed_out', catalogue.t('resultpage.none'));
    return;
  }
  try {
    const answer = await verifyToken(token);
    if (!answer.valid) throw new AppError('token_invalid');
    show('signed_in', catalogue.t('resultpage.signed_in'), 'ok');
    user.textContent = catalogue.t('resultpage.user', { username: answer.username ?? '' });
    if (typeof answer.exp === 'number') {
      const time = new Intl.DateTimeFormat(catalogue.lang, { timeStyle: 'medium' }).format(
        new Date(answer.exp * 1000),
      );
      expiry.textContent = catalogue.t('resultpage.expires', { time });
    }
    signOut.hidden = false;
  } catch (error) {
    const { code } = asAppError(error);
    if (code === 'token_invalid') sessionStorage.removeItem(TOKEN_KEY);
    const key = catalogue.has(`error.${code}`) ? `error.${code}` : 'error.unknown';
    show('error', catalogue.t(key), code);
  }
}

/** @returns {Promise<Catalogue>} the page language's catalogue (English if it cannot load) */
async function catalogueForPage() {
  const lang = pickLanguage(params.get('lang'), navigator.languages ?? [navigator.language]);
  try {
    return await loadCatalogue(lang);
  } catch (error) {
    console.error(error);
    return lang === FALLBACK ? new Catalogue(FALLBACK, {}) : loadCatalogue(FALLBACK);
  }
}

async function main() {
  const catalogue = await catalogueForPage();
  document.documentElement.lang = catalogue.lang;
  mark('lang', catalogue.lang);
  translateDocument(document, catalogue);
  const page = document.body.dataset.page;
  if (page === 'result') await showResult(catalogue);
  else if (page === 'signin' || page === 'enroll') new CaptureFlow(page, catalogue).init();
}

main().catch((error) => {
  console.error(error);
  mark('state', 'error');
  mark('reason', 'unknown');
});
