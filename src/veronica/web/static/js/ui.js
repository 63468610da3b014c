/**
 * What the person sees over the video: the guide oval (white while
 * positioning, green once placed), the current action as an icon, and the
 * light challenge — the whole screen around the oval in the colour the server
 * asks for, at the moment it asks, so the screen lights the face.
 * @module ui
 */

/** @typedef {import('./api.js').Oval} Oval */
/** @typedef {{x: number, y: number, rx: number, ry: number}} Ellipse CSS pixels */

const GUIDE_COLOUR = '#ffffff';
const PLACED_COLOUR = '#3ddc84';
const DIM = 'rgba(0, 0, 0, 0.45)';
const ICON_ACTIONS = new Set(['turn_left', 'turn_right', 'look_up', 'approach', 'blink']);

/**
 * The oval on screen. The oval is in normalised coordinates of the unmirrored
 * frame; the video is shown mirrored, so x flips.
 * @param {Oval} oval
 * @param {{left: number, top: number, width: number, height: number}} box the video on screen
 * @param {boolean} [mirrored]
 * @returns {Ellipse}
 */
export function ovalOnScreen(oval, box, mirrored = true) {
  const cx = mirrored ? 1 - oval.cx : oval.cx;
  return {
    x: box.left + cx * box.width,
    y: box.top + oval.cy * box.height,
    rx: oval.rx * box.width,
    ry: oval.ry * box.height,
  };
}

/**
 * @param {unknown} value
 * @returns {value is string} a "#rrggbb" colour
 */
export function isColour(value) {
  return typeof value === 'string' && /^#[0-9a-f]{6}$/i.test(value);
}

/**
 * Size a canvas's backing store to its CSS size at the screen's pixel ratio.
 * @param {HTMLCanvasElement} canvas
 * @param {number} width CSS px
 * @param {number} height CSS px
 * @returns {CanvasRenderingContext2D}
 */
function prepare(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.round(width * ratio);
  const h = Math.round(height * ratio);
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  return context;
}

/**
 * Fill everything but the ellipse (even-odd: the ellipse is a hole).
 * @param {CanvasRenderingContext2D} context
 * @param {number} width
 * @param {number} height
 * @param {Ellipse} e
 * @param {string} colour
 */
function fillAround(context, width, height, e, colour) {
  context.beginPath();
  context.rect(0, 0, width, height);
  context.ellipse(e.x, e.y, e.rx, e.ry, 0, 0, 2 * Math.PI);
  context.fillStyle = colour;
  context.fill('evenodd');
}

export class CaptureUi {
  /**
   * @param {object} elements
   * @param {HTMLElement} elements.stage the box holding the video and the guide canvas
   * @param {HTMLCanvasElement} elements.guide canvas over the video
   * @param {HTMLCanvasElement} elements.overlay full-screen canvas for the light challenge
   * @param {HTMLImageElement} elements.icon the action icon
   */
  constructor({ stage, guide, overlay, icon }) {
    this.stage = stage;
    this.guide = guide;
    this.overlay = overlay;
    this.icon = icon;
    /** @type {Oval | null} */
    this.oval = null;
    this.placed = false;
    /** @type {string | null} */
    this.light = null;
    /** @type {string | null} */
    this.action = null;
    /** The gentle light: the overlay fades in and out instead of cutting. */
    this.gentle = false;
    const redraw = () => this.draw();
    new ResizeObserver(redraw).observe(stage);
    window.addEventListener('resize', redraw);
    // The overlay is fixed to the viewport; the stage moves with the page.
    window.addEventListener('scroll', redraw, { passive: true });
  }

  /**
   * Match the stage's shape to the video so the oval lands where the server means it.
   * @param {number} width video pixels
   * @param {number} height
   */
  setVideoSize(width, height) {
    if (width > 0 && height > 0) this.stage.style.setProperty('--aspect', String(width / height));
  }

  /**
   * The gentle light (someone who opted out of flashing): the overlay stays in
   * the page and fades in and out (`app.css`, `data-on`) instead of appearing.
   * @param {boolean} gentle
   */
  setGentle(gentle) {
    this.gentle = gentle;
    this.overlay.classList.toggle('gentle', gentle);
  }

  /** @param {Oval | null} oval */
  setOval(oval) {
    this.oval = oval;
    this.draw();
  }

  /**
   * @param {{placed: boolean, action: string | null, light: string | null}} state
   */
  update({ placed, action, light }) {
    const colour = isColour(light) ? light : null;
    if (placed === this.placed && colour === this.light && action === this.action) return;
    this.placed = placed;
    this.light = colour;
    this.#showAction(action);
    this.draw();
  }

  reset() {
    this.setGentle(false);
    this.oval = null;
    this.placed = false;
    this.light = null;
    this.#showAction(null);
    this.draw();
  }

  draw() {
    this.#drawGuide();
    this.#drawLight();
  }

  /** @param {string | null} action */
  #showAction(action) {
    this.action = action;
    const known = action !== null && ICON_ACTIONS.has(action);
    if (known) this.icon.src = `/static/icons/${action}.svg`;
    this.icon.hidden = !known;
  }

  #drawGuide() {
    const { width, height } = this.stage.getBoundingClientRect();
    const context = prepare(this.guide, width, height);
    if (this.oval === null) return;
    const e = ovalOnScreen(this.oval, { left: 0, top: 0, width, height });
    if (this.light === null) fillAround(context, width, height, e, DIM);
    context.beginPath();
    context.ellipse(e.x, e.y, e.rx, e.ry, 0, 0, 2 * Math.PI);
    context.lineWidth = Math.max(3, width / 160);
    context.strokeStyle = this.placed ? PLACED_COLOUR : GUIDE_COLOUR;
    context.stroke();
  }

  #drawLight() {
    const on = this.light !== null && this.oval !== null;
    // The gentle light fades the overlay (its last tint) out rather than hiding
    // it: `data-on` drives the opacity transition in app.css.
    this.overlay.hidden = !on && !this.gentle;
    this.overlay.dataset.on = String(on);
    if (!on) {
      delete document.body.dataset.light;
      return;
    }
    document.body.dataset.light = /** @type {string} */ (this.light);
    const { width, height } = this.overlay.getBoundingClientRect();
    const context = prepare(this.overlay, width, height);
    const box = this.stage.getBoundingClientRect();
    const e = ovalOnScreen(/** @type {Oval} */ (this.oval), box);
    fillAround(context, width, height, e, /** @type {string} */ (this.light));
  }
}
