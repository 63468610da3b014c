/**
 * Frames from the video to the server. Capture draws the current video image
 * (unmirrored) on a canvas, scaled down to the server's width, as JPEG at the
 * session's quality. Pacing is stop-and-wait: the next frame leaves only once
 * the previous one is answered, and never faster than `max_fps`, so a slow
 * server or network simply gets fewer frames (adaptive skipping).
 * @module frames
 */

/**
 * @typedef {object} FrameLimits what the server accepts (session `limits`)
 * @property {number} max_frame_bytes
 * @property {number} max_fps
 * @property {number} width
 * @property {number} jpeg_quality 0–1
 */

/** @typedef {{timeMs: number, jpeg: Blob}} Frame */
/** @typedef {'answered' | 'unanswered' | 'too_large'} SendOutcome */
/** @typedef {(timeMs: number, jpeg: Blob, timeoutMs: number) => Promise<SendOutcome>} SendFrame */

/** Send slightly under the server's rate so clock jitter never trips its limit. */
const RATE_MARGIN = 1.1;
const MIN_QUALITY = 0.4;

/** Pure pacing and round-trip bookkeeping (no timers, no DOM). */
export class FramePacer {
  /**
   * @param {number} maxFps
   * @param {{smoothing?: number}} [options] weight of the newest RTT sample
   */
  constructor(maxFps, { smoothing = 0.2 } = {}) {
    if (!(maxFps > 0)) throw new RangeError('maxFps must be > 0');
    this.minIntervalMs = (1000 / maxFps) * RATE_MARGIN;
    this.smoothing = smoothing;
    this.lastSentAt = Number.NEGATIVE_INFINITY;
    /** @type {number | null} smoothed round-trip time, ms */
    this.rttMs = null;
    /** @type {number | null} */
    this.lastRttMs = null;
  }

  /**
   * How long to wait before the next frame may leave.
   * @param {number} now ms
   * @returns {number}
   */
  delayMs(now) {
    return Math.max(0, this.lastSentAt + this.minIntervalMs - now);
  }

  /** @param {number} now */
  sent(now) {
    this.lastSentAt = now;
  }

  /** @param {number} now when the answer to the last frame arrived */
  answered(now) {
    const rtt = now - this.lastSentAt;
    this.lastRttMs = rtt;
    this.rttMs = this.rttMs === null ? rtt : this.rttMs + this.smoothing * (rtt - this.rttMs);
  }

  /**
   * How long to wait for an answer before sending anyway: the server drops
   * frames it has no time for and answers nothing, so waiting forever would stall.
   * @returns {number}
   */
  answerTimeoutMs() {
    const base = this.rttMs === null ? 2000 : 4 * this.rttMs;
    return Math.min(5000, Math.max(1000, base));
  }
}

/** Draws the video on a canvas and encodes JPEG within the byte limit. */
export class FrameCapturer {
  /**
   * @param {HTMLVideoElement} video
   * @param {FrameLimits} limits
   * @param {() => number} [clock]
   */
  constructor(video, limits, clock = () => performance.now()) {
    this.video = video;
    this.limits = limits;
    this.clock = clock;
    this.quality = limits.jpeg_quality;
    this.canvas = document.createElement('canvas');
  }

  /** Encode smaller from now on (the server refused a frame as too large). */
  lowerQuality() {
    this.quality = Math.max(MIN_QUALITY, this.quality - 0.1);
  }

  /**
   * The current video image, or null if there is none yet or it cannot fit.
   * @returns {Promise<Frame | null>}
   */
  async capture() {
    const { videoWidth, videoHeight } = this.video;
    if (!videoWidth || !videoHeight) return null;
    const width = Math.min(this.limits.width, videoWidth);
    const height = Math.round((videoHeight * width) / videoWidth);
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    const context = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext('2d'));
    const timeMs = this.clock();
    context.drawImage(this.video, 0, 0, width, height);
    for (;;) {
      const jpeg = await toJpeg(this.canvas, this.quality);
      if (jpeg.size <= this.limits.max_frame_bytes) return { timeMs, jpeg };
      if (this.quality <= MIN_QUALITY) return null;
      this.lowerQuality();
    }
  }
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {number} quality
 * @returns {Promise<Blob>}
 */
function toJpeg(canvas, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error('JPEG encoding failed'))),
      'image/jpeg',
      quality,
    );
  });
}

/** @param {number} ms @returns {Promise<void>} */
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The capture → send → wait loop.
 */
export class FrameProcessor {
  /**
   * @param {object} options
   * @param {{capture(): Promise<Frame | null>, lowerQuality(): void}} options.capturer
   * @param {SendFrame} options.send resolves once the frame is answered (or not)
   * @param {number} options.maxFps
   * @param {(error: unknown) => void} options.onError the loop has stopped on this error
   * @param {() => number} [options.clock]
   * @param {(ms: number) => Promise<void>} [options.sleep]
   */
  constructor({ capturer, send, maxFps, onError, clock = () => performance.now(), sleep = delay }) {
    this.capturer = capturer;
    this.send = send;
    this.onError = onError;
    this.clock = clock;
    this.sleep = sleep;
    this.pacer = new FramePacer(maxFps);
    this.running = false;
    this.stats = { sent: 0, answered: 0, unanswered: 0 };
  }

  /** @returns {number | null} smoothed round-trip time of a frame, ms */
  get rttMs() {
    return this.pacer.rttMs;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.#loop().catch((error) => {
      this.running = false;
      this.onError(error);
    });
  }

  stop() {
    this.running = false;
  }

  async #loop() {
    while (this.running) {
      const wait = this.pacer.delayMs(this.clock());
      if (wait > 0) await this.sleep(wait);
      if (!this.running) return;
      const frame = await this.capturer.capture();
      if (!this.running) return;
      if (frame === null) {
        // No picture yet (camera starting): try again shortly.
        await this.sleep(this.pacer.minIntervalMs);
        continue;
      }
      this.pacer.sent(this.clock());
      this.stats.sent += 1;
      const outcome = await this.send(frame.timeMs, frame.jpeg, this.pacer.answerTimeoutMs());
      if (outcome === 'answered') {
        this.pacer.answered(this.clock());
        this.stats.answered += 1;
      } else {
        this.stats.unanswered += 1;
        if (outcome === 'too_large') this.capturer.lowerQuality();
      }
    }
  }
}
