import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import { CaptureUi } from '../ui.js';

// CaptureUi only needs a few DOM pieces; these fakes record what it does to them,
// so the overlay's states are checked without a browser (tests/web has the real one).

/** A 2D context that remembers the last fill colour. */
function fakeContext() {
  return {
    fillStyle: '',
    lineWidth: 0,
    strokeStyle: '',
    /** @type {string[]} */
    fills: [],
    setTransform() {},
    clearRect() {},
    beginPath() {},
    rect() {},
    ellipse() {},
    stroke() {},
    fill() {
      this.fills.push(this.fillStyle);
    },
  };
}

/** @param {{width: number, height: number}} size */
function fakeCanvas(size) {
  const context = fakeContext();
  /** @type {Set<string>} */
  const classes = new Set();
  return {
    width: 0,
    height: 0,
    hidden: true,
    /** @type {Record<string, string>} */
    dataset: {},
    classList: {
      /** @param {string} name @param {boolean} on */
      toggle(name, on) {
        if (on) classes.add(name);
        else classes.delete(name);
      },
      /** @param {string} name */
      contains: (name) => classes.has(name),
    },
    context,
    getContext: () => context,
    getBoundingClientRect: () => ({ left: 0, top: 0, ...size }),
  };
}

function setUpGlobals() {
  const g = /** @type {any} */ (globalThis);
  g.ResizeObserver = class {
    observe() {}
  };
  g.window = { addEventListener() {}, devicePixelRatio: 1 };
  g.document = { body: { dataset: {} } };
}

const OVAL = { cx: 0.5, cy: 0.45, rx: 0.2, ry: 0.3 };

/** @returns {{ui: CaptureUi, overlay: ReturnType<typeof fakeCanvas>}} */
function makeUi() {
  const overlay = fakeCanvas({ width: 800, height: 600 });
  const elements = /** @type {any} */ ({
    stage: { ...fakeCanvas({ width: 640, height: 480 }), style: { setProperty() {} } },
    guide: fakeCanvas({ width: 640, height: 480 }),
    overlay,
    icon: { hidden: true, src: '' },
  });
  return { ui: new CaptureUi(elements), overlay };
}

describe('CaptureUi light overlay', () => {
  beforeEach(setUpGlobals);

  it('flash: shown only while a colour is due, cut in and out', () => {
    const { ui, overlay } = makeUi();
    ui.setOval(OVAL);
    assert.equal(overlay.hidden, true);
    ui.update({ placed: true, action: null, light: '#ff0000' });
    assert.equal(overlay.hidden, false);
    assert.equal(overlay.dataset.on, 'true');
    assert.equal(overlay.context.fills.at(-1), '#ff0000');
    assert.equal(/** @type {any} */ (globalThis).document.body.dataset.light, '#ff0000');
    ui.update({ placed: true, action: null, light: null });
    assert.equal(overlay.hidden, true);
    assert.equal(overlay.dataset.on, 'false');
    assert.equal(/** @type {any} */ (globalThis).document.body.dataset.light, undefined);
    assert.ok(!overlay.classList.contains('gentle'));
  });

  it('gentle: never hidden, data-on drives the fade, the last tint stays to fade out', () => {
    const { ui, overlay } = makeUi();
    ui.setGentle(true);
    ui.setOval(OVAL);
    assert.ok(overlay.classList.contains('gentle'));
    assert.equal(overlay.hidden, false, 'in the page (transparent) before the light');
    assert.equal(overlay.dataset.on, 'false');
    ui.update({ placed: true, action: null, light: '#868686' });
    assert.equal(overlay.dataset.on, 'true');
    ui.update({ placed: true, action: null, light: '#ed00ed' });
    assert.equal(overlay.context.fills.at(-1), '#ed00ed');
    const fills = overlay.context.fills.length;
    ui.update({ placed: true, action: 'turn_left', light: null });
    assert.equal(overlay.hidden, false, 'fades out rather than disappearing');
    assert.equal(overlay.dataset.on, 'false');
    assert.equal(overlay.context.fills.length, fills, 'the last tint is kept, not cleared');
  });

  it('reset ends the gentle light, so the next attempt starts from the service default', () => {
    const { ui, overlay } = makeUi();
    ui.setGentle(true);
    ui.setOval(OVAL);
    ui.update({ placed: true, action: null, light: '#868686' });
    ui.reset();
    assert.equal(ui.gentle, false);
    assert.ok(!overlay.classList.contains('gentle'));
    assert.equal(overlay.hidden, true);
    assert.equal(overlay.dataset.on, 'false');
  });

  it('ignores what is not a colour', () => {
    const { ui, overlay } = makeUi();
    ui.setOval(OVAL);
    ui.update({ placed: true, action: null, light: 'url(x)' });
    assert.equal(overlay.hidden, true);
    assert.equal(ui.light, null);
  });
});
