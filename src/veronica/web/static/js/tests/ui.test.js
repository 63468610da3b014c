import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isColour, ovalOnScreen } from '../ui.js';
import { cameraErrorCode } from '../video.js';
import { AppError, asAppError } from '../errors.js';

describe('ovalOnScreen', () => {
  const box = { left: 10, top: 20, width: 640, height: 480 };

  it('mirrors x like the video, keeps y', () => {
    const e = ovalOnScreen({ cx: 0.25, cy: 0.5, rx: 0.2, ry: 0.3 }, box);
    assert.deepEqual(e, { x: 10 + 0.75 * 640, y: 20 + 240, rx: 128, ry: 144 });
  });

  it('can draw unmirrored', () => {
    const e = ovalOnScreen({ cx: 0.25, cy: 0.5, rx: 0.2, ry: 0.3 }, box, false);
    assert.equal(e.x, 10 + 160);
  });
});

describe('isColour', () => {
  it('accepts #rrggbb only', () => {
    assert.ok(isColour('#ff00AA'));
    for (const value of ['red', '#fff', 'url(x)', null, 3, '#ff00aa;']) assert.ok(!isColour(value));
  });
});

describe('cameraErrorCode', () => {
  it('maps getUserMedia failures to what the person can do about them', () => {
    /** @param {string} name */
    const code = (name) => cameraErrorCode(new DOMException('x', name));
    assert.equal(code('NotAllowedError'), 'camera_denied');
    assert.equal(code('SecurityError'), 'camera_denied');
    assert.equal(code('NotFoundError'), 'camera_not_found');
    assert.equal(code('OverconstrainedError'), 'camera_not_found');
    assert.equal(code('NotReadableError'), 'camera_in_use');
    assert.equal(code('AbortError'), 'camera_in_use');
    assert.equal(cameraErrorCode(new TypeError('bad constraints')), 'camera_failed');
    assert.equal(cameraErrorCode('weird'), 'camera_failed');
  });
});

describe('asAppError', () => {
  it('keeps AppErrors and wraps anything else as unknown', () => {
    const known = new AppError('busy');
    assert.equal(asAppError(known), known);
    assert.equal(asAppError(new Error('x')).code, 'unknown');
    assert.equal(asAppError('x').code, 'unknown');
  });
});
