/**
 * The words on the page: instruction, hint, progress, outcome, and a polite
 * live region so screen readers hear what to do without being flooded (hints
 * can change every frame; announcements are spaced out).
 * @module status
 */

/** Minimum time between two routine announcements. */
const ANNOUNCE_GAP_MS = 1500;

export class Announcer {
  /**
   * @param {HTMLElement} region an `aria-live="polite"` element
   * @param {() => number} [clock]
   */
  constructor(region, clock = () => performance.now()) {
    this.region = region;
    this.clock = clock;
    this.lastAt = Number.NEGATIVE_INFINITY;
    this.lastText = '';
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
  }

  /**
   * @param {string} text
   * @param {{now?: boolean}} [options] `now`: phase changes and outcomes skip the spacing
   */
  say(text, { now = false } = {}) {
    clearTimeout(this.timer);
    if (text === this.lastText) return;
    const wait = now ? 0 : this.lastAt + ANNOUNCE_GAP_MS - this.clock();
    if (wait <= 0) {
      this.#speak(text);
    } else {
      this.timer = setTimeout(() => this.#speak(text), wait);
    }
  }

  /** @param {string} text */
  #speak(text) {
    this.lastAt = this.clock();
    this.lastText = text;
    this.region.textContent = text;
  }
}

export class StatusView {
  /**
   * @param {ParentNode} root
   */
  constructor(root) {
    /** @param {string} id @returns {HTMLElement | null} */
    const find = (id) => root.querySelector(`[data-testid="${id}"]`);
    this.instructionEl = find('instruction');
    this.hintEl = find('hint');
    this.progressEl = /** @type {HTMLProgressElement | null} */ (find('progress'));
    this.titleEl = find('outcome-title');
    this.messageEl = find('outcome-message');
    this.helpEl = find('outcome-help');
    this.announcer = new Announcer(/** @type {HTMLElement} */ (find('announcer')));
  }

  /**
   * The main instruction (also announced).
   * @param {string} text
   * @param {{now?: boolean}} [options]
   */
  instruct(text, options) {
    if (this.instructionEl && this.instructionEl.textContent !== text) {
      this.instructionEl.textContent = text;
    }
    this.announcer.say(text, options);
  }

  /** @param {string} text a secondary hint, or '' */
  hint(text) {
    if (this.hintEl && this.hintEl.textContent !== text) this.hintEl.textContent = text;
  }

  /** @param {number} value 0–1 */
  progress(value) {
    if (this.progressEl) this.progressEl.value = Math.min(1, Math.max(0, value || 0));
  }

  /**
   * The outcome panel: a title, the message, and what to do next.
   * @param {{title: string, message: string, help?: string}} outcome
   */
  outcome({ title, message, help = '' }) {
    if (this.titleEl) this.titleEl.textContent = title;
    if (this.messageEl) this.messageEl.textContent = message;
    if (this.helpEl) this.helpEl.textContent = help;
    this.announcer.say(help ? `${title}. ${message} ${help}` : `${title}. ${message}`, { now: true });
  }

  /** Empty instruction, hint and progress (nothing is announced). */
  clear() {
    if (this.instructionEl) this.instructionEl.textContent = '';
    this.hint('');
    this.progress(0);
  }
}
