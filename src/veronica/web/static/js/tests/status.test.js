import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';

import { Announcer } from '../status.js';

describe('Announcer', () => {
  it('speaks at once, then spaces routine announcements out, keeping only the latest', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let now = 0;
      const region = { textContent: '' };
      const announcer = new Announcer(/** @type {HTMLElement} */ (/** @type {unknown} */ (region)), () => now);
      announcer.say('Move closer.');
      assert.equal(region.textContent, 'Move closer.');
      now = 100;
      announcer.say('Move back.');
      announcer.say('Hold still.');
      assert.equal(region.textContent, 'Move closer.', 'too soon');
      now = 1500;
      mock.timers.tick(1400);
      assert.equal(region.textContent, 'Hold still.');
      announcer.say('Signed in.', { now: true });
      assert.equal(region.textContent, 'Signed in.', 'outcomes are not delayed');
    } finally {
      mock.timers.reset();
    }
  });
});
