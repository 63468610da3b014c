/**
 * The API client: session creation, the frame stream (WebSocket with the
 * hello + binary framing of the contract, falling back to HTTP POSTs of single
 * frames), and token verification. Every failure is an AppError whose code is
 * the server's error code or a client one (`network`, `connection_refused`).
 * @module api
 */

import { AppError } from './errors.js';

const SESSIONS_URL = '/api/v1/auth/sessions';
const VERIFY_URL = '/api/v1/auth/tokens/verify';
const CONFIG_URL = '/api/v1/auth/config';
const OPEN_TIMEOUT_MS = 5000;
/** Consecutive failed HTTP frame posts before the connection counts as lost. */
const MAX_NETWORK_FAILURES = 3;

/**
 * @typedef {object} Oval normalised frame coordinates (0–1)
 * @property {number} cx
 * @property {number} cy
 * @property {number} rx
 * @property {number} ry
 */

/**
 * @typedef {object} Result
 * @property {'signed_in' | 'enrolled' | 'refused'} status
 * @property {string} reason
 * @property {string | null} username
 * @property {string | null} token
 * @property {string | null} [redirect]
 */

/**
 * @typedef {object} State what the server says after each frame
 * @property {'state'} type
 * @property {number} seq
 * @property {'positioning' | 'challenge' | 'decided'} phase
 * @property {string | null} action
 * @property {string | null} light "#rrggbb"
 * @property {string[]} hints
 * @property {boolean} placed
 * @property {number} progress 0–1
 * @property {number} [acknowledged] challenge steps whose response the server has
 *   seen so far; the step due now is withdrawn (`action` null) once seen
 * @property {Result | null} result
 */

/**
 * @typedef {object} Session
 * @property {string} session_id
 * @property {string} csrf_token
 * @property {string} expires_at
 * @property {'login' | 'enroll'} purpose
 * @property {boolean} light_challenge the flashing light challenge runs (`light` is 'flash')
 * @property {'flash' | 'gentle' | 'none'} light the light this session shows: the
 *   flashing colours, the gentle tints of someone who opted out, or none (policy `off`)
 * @property {Oval} oval
 * @property {State} state
 * @property {string} stream_url
 * @property {string} frames_url
 * @property {import('./frames.js').FrameLimits} limits
 */

/**
 * @typedef {object} SessionRequest
 * @property {string | null} [username] 1:1 verification; none → 1:N
 * @property {string | null} [enrollmentToken] enroll through a link
 * @property {boolean} light false: the person opted out of the flashing colours
 *   and gets the gentle light instead (only offered when the service's light
 *   policy is `optional`)
 * @property {string | null} [returnTo] where the relying site wants the person back
 * @property {string | null} [oidcRequest] the OpenID Connect authorization request it answers
 */

/**
 * The AppError for a failed response (the contract's one error shape).
 * @param {Response} response
 * @returns {Promise<AppError>}
 */
export async function responseError(response) {
  try {
    const body = await response.json();
    const code = body?.error?.code;
    if (typeof code === 'string' && code) return new AppError(code, body.error.message ?? '');
  } catch {
    // not JSON: fall through to the status
  }
  return new AppError(response.status === 404 ? 'not_found' : 'unknown', `HTTP ${response.status}`);
}

/**
 * POST JSON, answer JSON.
 * @param {string} url
 * @param {unknown} body
 * @returns {Promise<{data: any, response: Response}>}
 */
async function postJson(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (error) {
    throw new AppError('network', String(error));
  }
  if (!response.ok) throw await responseError(response);
  return { data: await response.json(), response };
}

/**
 * Start a liveness session. `deadlineMs` is the expiry on the `performance.now()`
 * clock, measured against the server's own Date header so a wrong client
 * clock does not matter.
 * @param {SessionRequest} request
 * @returns {Promise<{session: Session, deadlineMs: number}>}
 */
export async function createSession({
  username = null,
  enrollmentToken = null,
  light,
  returnTo = null,
  oidcRequest = null,
}) {
  /** @type {Record<string, unknown>} */
  const body = { username: username || null, enrollment_token: enrollmentToken || null };
  // Only an opt-out is sent: otherwise the service's own policy applies.
  if (light === false) body.light = false;
  if (returnTo) body.return_to = returnTo;
  if (oidcRequest) body.oidc_request = oidcRequest;
  const { data, response } = await postJson(SESSIONS_URL, body);
  const session = /** @type {Session} */ (data);
  const serverNow = Date.parse(response.headers.get('Date') ?? '') || Date.now();
  const ttlMs = Date.parse(session.expires_at) - serverNow;
  return { session, deadlineMs: performance.now() + (Number.isFinite(ttlMs) ? ttlMs : 0) };
}

/**
 * Which site asks for this sign-in (an OpenID Connect authorization request).
 * @param {string} requestId the page's `?oidc=`
 * @returns {Promise<{client_name: string, redirect_host: string, login_hint: string | null, cancel_url: string}>}
 */
export async function fetchAuthorizationRequest(requestId) {
  let response;
  try {
    response = await fetch(`/api/v1/oidc/requests/${encodeURIComponent(requestId)}`, {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
  } catch (error) {
    throw new AppError('network', String(error));
  }
  if (!response.ok) throw await responseError(response);
  return response.json();
}

/**
 * What the service tells a page before a session: its light policy
 * (`required`, `optional` or `off`).
 * @returns {Promise<{light_challenge: 'required' | 'optional' | 'off'}>}
 */
export async function fetchConfig() {
  let response;
  try {
    response = await fetch(CONFIG_URL, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  } catch (error) {
    throw new AppError('network', String(error));
  }
  if (!response.ok) throw await responseError(response);
  return response.json();
}

/**
 * Ask the server whether a result token is valid, and for whom.
 * @param {string} token
 * @returns {Promise<{valid: boolean, username?: string, exp?: number}>}
 */
export async function verifyToken(token) {
  const { data } = await postJson(VERIFY_URL, { token });
  return data;
}

/**
 * The 8-byte prefix of a binary frame: capture time (ms, client clock) as
 * little-endian float64.
 * @param {number} timeMs
 * @returns {ArrayBuffer}
 */
export function frameHeader(timeMs) {
  const header = new ArrayBuffer(8);
  new DataView(header).setFloat64(0, timeMs, true);
  return header;
}

/**
 * The absolute ws:/wss: URL of a stream path.
 * @param {string} path
 * @param {string} base the page URL
 * @returns {string}
 */
export function streamUrl(path, base) {
  const url = new URL(path, base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

/**
 * @typedef {object} TransportEvents
 * @property {(state: State) => void} onState
 * @property {(error: AppError) => void} onFatal the session cannot go on
 * @property {() => void} onBroken the connection dropped abnormally (try another)
 */

/** Waits for the answer to the frame in flight. */
class AnswerWaiter {
  /** @type {((outcome: import('./frames.js').SendOutcome) => void) | null} */
  #resolve = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;

  /**
   * @param {number} timeoutMs
   * @returns {Promise<import('./frames.js').SendOutcome>}
   */
  wait(timeoutMs) {
    this.settle('unanswered');
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(() => this.settle('unanswered'), timeoutMs);
    });
  }

  /** @param {import('./frames.js').SendOutcome} outcome */
  settle(outcome) {
    clearTimeout(this.#timer);
    const resolve = this.#resolve;
    this.#resolve = null;
    resolve?.(outcome);
  }
}

/** Frames over a WebSocket: text hello, then binary frames; State text answers. */
export class WebSocketTransport {
  kind = 'websocket';

  /**
   * @param {string} url ws:/wss: URL
   * @param {string} csrfToken
   * @param {TransportEvents} events
   */
  constructor(url, csrfToken, events) {
    this.url = url;
    this.csrfToken = csrfToken;
    this.events = events;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.finished = false;
    this.answer = new AnswerWaiter();
  }

  /**
   * Connect and say hello; rejects if the socket cannot open.
   * @returns {Promise<void>}
   */
  open() {
    return new Promise((resolve, reject) => {
      let socket;
      try {
        socket = new WebSocket(this.url);
      } catch (error) {
        reject(error);
        return;
      }
      socket.binaryType = 'arraybuffer';
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error('WebSocket open timed out'));
      }, OPEN_TIMEOUT_MS);
      socket.addEventListener('open', () => {
        clearTimeout(timer);
        this.socket = socket;
        socket.send(JSON.stringify({ type: 'hello', csrf_token: this.csrfToken }));
        resolve();
      });
      socket.addEventListener('close', (event) => {
        clearTimeout(timer);
        if (this.socket === socket) this.#closed(event);
        else reject(new Error(`WebSocket closed before opening (${event.code})`));
      });
      socket.addEventListener('message', (event) => this.#message(event));
    });
  }

  /**
   * @param {number} timeMs
   * @param {Blob} jpeg
   * @param {number} timeoutMs
   * @returns {Promise<import('./frames.js').SendOutcome>}
   */
  send(timeMs, jpeg, timeoutMs) {
    if (this.finished || this.socket?.readyState !== WebSocket.OPEN) {
      return Promise.resolve('unanswered');
    }
    const answered = this.answer.wait(timeoutMs);
    this.socket.send(new Blob([frameHeader(timeMs), jpeg]));
    return answered;
  }

  close() {
    this.finished = true;
    this.answer.settle('unanswered');
    this.socket?.close(1000);
  }

  /** @param {MessageEvent} event */
  #message(event) {
    if (typeof event.data !== 'string' || this.finished) return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === 'state') {
      this.events.onState(message);
      this.answer.settle('answered');
    } else if (message.type === 'error') {
      this.finished = true;
      this.answer.settle('unanswered');
      this.events.onFatal(new AppError(message.code || 'unknown', message.message ?? ''));
    }
  }

  /** @param {CloseEvent} event */
  #closed(event) {
    this.answer.settle('unanswered');
    if (this.finished) return;
    this.finished = true;
    if (event.code === 1008) {
      // Policy violation: the server refused us (csrf_invalid, origin); retrying cannot help.
      this.events.onFatal(new AppError(event.reason || 'connection_refused', `close ${event.code}`));
    } else {
      this.events.onBroken();
    }
  }
}

/** Frames as single HTTP POSTs: the fallback when WebSockets do not get through. */
export class HttpTransport {
  kind = 'http';

  /**
   * @param {string} url the session's frames_url
   * @param {string} csrfToken
   * @param {TransportEvents} events
   */
  constructor(url, csrfToken, events) {
    this.url = url;
    this.csrfToken = csrfToken;
    this.events = events;
    this.failures = 0;
    this.finished = false;
  }

  /**
   * @param {number} timeMs
   * @param {Blob} jpeg
   * @param {number} timeoutMs
   * @returns {Promise<import('./frames.js').SendOutcome>}
   */
  async send(timeMs, jpeg, timeoutMs) {
    if (this.finished) return 'unanswered';
    let response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'image/jpeg',
          'X-CSRF-Token': this.csrfToken,
          'X-Frame-Time': String(timeMs),
        },
        body: jpeg,
        credentials: 'same-origin',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
      if (!timedOut && ++this.failures >= MAX_NETWORK_FAILURES) {
        this.#fatal(new AppError('network', String(error)));
      }
      return 'unanswered';
    }
    this.failures = 0;
    if (this.finished) return 'unanswered';
    if (response.ok) {
      this.events.onState(await response.json());
      return 'answered';
    }
    if (response.status === 413) return 'too_large';
    if (response.status === 429) return 'unanswered'; // over the frame rate: skip this one
    this.#fatal(await responseError(response));
    return 'unanswered';
  }

  close() {
    this.finished = true;
  }

  /** @param {AppError} error */
  #fatal(error) {
    this.finished = true;
    this.events.onFatal(error);
  }
}

/**
 * The frame channel of one session: WebSocket first; if it cannot open, HTTP.
 * If it breaks mid-session, one reconnect, then HTTP.
 */
export class SessionConnection {
  /**
   * @param {Session} session
   * @param {object} handlers
   * @param {(state: State) => void} handlers.onState
   * @param {(error: AppError) => void} handlers.onError
   * @param {(kind: string) => void} [handlers.onTransport] the transport in use changed
   * @param {string} [base] page URL the stream path resolves against
   */
  constructor(session, { onState, onError, onTransport = () => {} }, base = location.href) {
    this.session = session;
    this.onState = onState;
    this.onError = onError;
    this.onTransport = onTransport;
    this.base = base;
    this.reconnected = false;
    this.closed = false;
    /** @type {WebSocketTransport | HttpTransport | null} */
    this.transport = null;
    /** @type {Promise<void>} */
    this.ready = Promise.resolve();
  }

  /** @returns {string} `websocket`, `http`, or `none` before opening */
  get kind() {
    return this.transport?.kind ?? 'none';
  }

  /** @returns {Promise<void>} */
  open() {
    this.ready = this.#connect();
    return this.ready;
  }

  /**
   * @param {number} timeMs
   * @param {Blob} jpeg
   * @param {number} timeoutMs
   * @returns {Promise<import('./frames.js').SendOutcome>}
   */
  async send(timeMs, jpeg, timeoutMs) {
    await this.ready;
    if (this.closed || this.transport === null) return 'unanswered';
    return this.transport.send(timeMs, jpeg, timeoutMs);
  }

  close() {
    this.closed = true;
    this.transport?.close();
  }

  /** @returns {TransportEvents} */
  #events() {
    return {
      onState: (state) => {
        if (!this.closed) this.onState(state);
      },
      onFatal: (error) => {
        if (!this.closed) this.onError(error);
      },
      onBroken: () => {
        if (this.closed) return;
        // The first break gets one more WebSocket; after that, HTTP.
        this.ready = this.reconnected ? this.#useHttp() : this.#connect(true);
      },
    };
  }

  /** @param {boolean} [again] */
  async #connect(again = false) {
    this.reconnected ||= again;
    const socket = new WebSocketTransport(
      streamUrl(this.session.stream_url, this.base),
      this.session.csrf_token,
      this.#events(),
    );
    try {
      await socket.open();
    } catch (error) {
      console.info('WebSocket unavailable, using HTTP:', error);
      return this.#useHttp();
    }
    this.#use(socket);
  }

  async #useHttp() {
    this.#use(new HttpTransport(this.session.frames_url, this.session.csrf_token, this.#events()));
  }

  /** @param {WebSocketTransport | HttpTransport} transport */
  #use(transport) {
    if (this.closed) {
      transport.close();
      return;
    }
    this.transport = transport;
    this.onTransport(transport.kind);
  }
}
