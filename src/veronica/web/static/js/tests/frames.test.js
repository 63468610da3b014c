import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FramePacer, FrameProcessor } from '../frames.js';

describe('FramePacer', () => {
  it('spaces frames by the maximum rate, with a margin', () => {
    const pacer = new FramePacer(20);
    assert.equal(pacer.delayMs(0), 0, 'the first frame leaves at once');
    pacer.sent(1000);
    assert.ok(pacer.delayMs(1000) >= 50, 'never faster than 20 fps');
    assert.ok(pacer.delayMs(1000) <= 60, 'a small margin only');
    assert.equal(pacer.delayMs(1100), 0, 'a slow answer means no extra wait');
  });

  it('smooths the round-trip time and bases the answer timeout on it', () => {
    const pacer = new FramePacer(10, { smoothing: 0.5 });
    assert.equal(pacer.rttMs, null);
    assert.equal(pacer.answerTimeoutMs(), 2000, 'before any answer');
    pacer.sent(0);
    pacer.answered(100);
    assert.equal(pacer.rttMs, 100);
    pacer.sent(200);
    pacer.answered(500);
    assert.equal(pacer.lastRttMs, 300);
    assert.equal(pacer.rttMs, 200);
    assert.equal(pacer.answerTimeoutMs(), 1000, 'at least a second');
    pacer.sent(0);
    pacer.answered(10_000);
    assert.equal(pacer.answerTimeoutMs(), 5000, 'at most five seconds');
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => new FramePacer(0), RangeError);
  });
});

/** A fake clock whose sleep advances it. */
function fakeTime() {
  const time = { now: 0, sleeps: /** @type {number[]} */ ([]) };
  return {
    time,
    clock: () => time.now,
    /** @param {number} ms */
    sleep: async (ms) => {
      time.sleeps.push(ms);
      time.now += ms;
    },
  };
}

describe('FrameProcessor', () => {
  it('waits for each answer before the next frame (stop-and-wait) and paces them', async () => {
    const { time, clock, sleep } = fakeTime();
    let inFlight = 0;
    let maxInFlight = 0;
    /** @type {number[]} */
    const sentAt = [];
    /** @type {FrameProcessor} */
    let processor;
    const capturer = {
      capture: async () => ({ timeMs: time.now, jpeg: new Blob(['x']) }),
      lowerQuality: () => {},
    };
    await new Promise((resolve, reject) => {
      processor = new FrameProcessor({
        capturer,
        maxFps: 10,
        clock,
        sleep,
        onError: reject,
        send: async () => {
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          sentAt.push(time.now);
          await Promise.resolve();
          time.now += 30; // the server answers in 30 ms
          inFlight -= 1;
          if (sentAt.length === 5) {
            processor.stop();
            setImmediate(resolve); // once the loop has booked this answer
          }
          return 'answered';
        },
      });
      processor.start();
    });
    assert.equal(maxInFlight, 1, 'one frame in flight at a time');
    for (let i = 1; i < sentAt.length; i += 1) {
      assert.ok(sentAt[i] - sentAt[i - 1] >= 100, `frame ${i} respects 10 fps`);
    }
    assert.equal(processor.stats.answered, 5);
    assert.ok(Math.abs((processor.rttMs ?? 0) - 30) < 1e-9, "round trip measured");
  });

  it('lowers the JPEG quality when the server finds a frame too large', async () => {
    const { clock, sleep } = fakeTime();
    let lowered = 0;
    let calls = 0;
    /** @type {FrameProcessor} */
    let processor;
    await new Promise((resolve, reject) => {
      processor = new FrameProcessor({
        capturer: {
          capture: async () => ({ timeMs: 0, jpeg: new Blob(['x']) }),
          lowerQuality: () => {
            lowered += 1;
          },
        },
        maxFps: 20,
        clock,
        sleep,
        onError: reject,
        send: async () => {
          calls += 1;
          if (calls === 2) {
            processor.stop();
            setImmediate(resolve);
          }
          return 'too_large';
        },
      });
      processor.start();
    });
    assert.equal(lowered, 2);
    assert.equal(processor.stats.unanswered, 2);
    assert.equal(processor.rttMs, null, 'no answer, no round trip');
  });

  it('stops and reports when sending fails', async () => {
    const { clock, sleep } = fakeTime();
    const failure = new Error('gone');
    const reported = await new Promise((resolve) => {
      const processor = new FrameProcessor({
        capturer: { capture: async () => ({ timeMs: 0, jpeg: new Blob(['x']) }), lowerQuality() {} },
        maxFps: 20,
        clock,
        sleep,
        onError: resolve,
        send: async () => {
          throw failure;
        },
      });
      processor.start();
    });
    assert.equal(reported, failure);
  });

  it('retries capture until the camera has a picture', async () => {
    const { clock, sleep } = fakeTime();
    const frames = [null, null, { timeMs: 0, jpeg: new Blob(['x']) }];
    /** @type {FrameProcessor} */
    let processor;
    const sent = await new Promise((resolve, reject) => {
      processor = new FrameProcessor({
        capturer: { capture: async () => frames.shift() ?? null, lowerQuality() {} },
        maxFps: 20,
        clock,
        sleep,
        onError: reject,
        send: async () => {
          processor.stop();
          resolve(processor.stats.sent);
          return 'answered';
        },
      });
      processor.start();
    });
    assert.equal(sent, 1);
  });
});
