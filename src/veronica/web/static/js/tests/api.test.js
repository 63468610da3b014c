import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SessionConnection, frameHeader, responseError, streamUrl } from '../api.js';

describe('frameHeader', () => {
  it('is the capture time as 8 bytes of little-endian float64', () => {
    const header = frameHeader(1234.5);
    assert.equal(header.byteLength, 8);
    assert.equal(new DataView(header).getFloat64(0, true), 1234.5);
    assert.deepEqual([...new Uint8Array(frameHeader(1))], [0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
  });
});

describe('streamUrl', () => {
  it('turns the stream path into a ws: or wss: URL on the page origin', () => {
    assert.equal(streamUrl('/api/v1/auth/sessions/x/stream', 'http://127.0.0.1:8000/?lang=fr'),
      'ws://127.0.0.1:8000/api/v1/auth/sessions/x/stream');
    assert.equal(streamUrl('/s', 'https://login.example.org/enroll'), 'wss://login.example.org/s');
  });
});

describe('responseError', () => {
  it('takes the code of the contract error shape', async () => {
    const body = JSON.stringify({ error: { code: 'busy', message: 'try later' } });
    const error = await responseError(new Response(body, { status: 503 }));
    assert.equal(error.code, 'busy');
  });

  it('has a code even when the body is not the error shape', async () => {
    assert.equal((await responseError(new Response('<html>', { status: 502 }))).code, 'unknown');
    assert.equal((await responseError(new Response('', { status: 404 }))).code, 'not_found');
  });
});

/** A WebSocket the test drives: it opens on the next tick; `drop()` breaks it. */
class FakeSocket extends EventTarget {
  static OPEN = 1;
  /** @type {FakeSocket[]} */
  static made = [];

  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.made.push(this);
    setTimeout(() => {
      this.readyState = FakeSocket.OPEN;
      this.dispatchEvent(new Event('open'));
    }, 0);
  }

  send(data) {
    this.sent.push(data);
  }

  close(code = 1000) {
    this.drop(code);
  }

  /** @param {number} code */
  drop(code = 1006) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    const event = new Event('close');
    Object.assign(event, { code, reason: '' });
    this.dispatchEvent(event);
  }
}

describe('SessionConnection', () => {
  const session = {
    session_id: 's1',
    csrf_token: 'csrf',
    stream_url: '/api/v1/auth/sessions/s1/stream',
    frames_url: '/api/v1/auth/sessions/s1/frames',
  };

  it('reconnects once to the same session when its WebSocket drops, then uses HTTP', async () => {
    const saved = globalThis.WebSocket;
    globalThis.WebSocket = FakeSocket;
    FakeSocket.made = [];
    const transports = [];
    const errors = [];
    try {
      const connection = new SessionConnection(
        session,
        { onState: () => {}, onError: (e) => errors.push(e), onTransport: (k) => transports.push(k) },
        'https://login.example.org/',
      );
      await connection.open();
      assert.equal(connection.kind, 'websocket');
      FakeSocket.made[0].drop(); // the instance serving it went away
      await connection.ready;
      assert.equal(FakeSocket.made.length, 2);
      assert.equal(FakeSocket.made[1].url, 'wss://login.example.org/api/v1/auth/sessions/s1/stream');
      // The new socket says hello for the same session before any frame.
      assert.deepEqual(JSON.parse(FakeSocket.made[1].sent[0]), { type: 'hello', csrf_token: 'csrf' });
      FakeSocket.made[1].drop(); // a second break: HTTP from here on
      await connection.ready;
      assert.equal(connection.kind, 'http');
      assert.deepEqual(transports, ['websocket', 'websocket', 'http']);
      assert.deepEqual(errors, []);
      connection.close();
    } finally {
      globalThis.WebSocket = saved;
    }
  });

  it('does not reconnect when the server refuses the socket (policy violation)', async () => {
    const saved = globalThis.WebSocket;
    globalThis.WebSocket = FakeSocket;
    FakeSocket.made = [];
    const errors = [];
    try {
      const connection = new SessionConnection(
        session,
        { onState: () => {}, onError: (e) => errors.push(e) },
        'https://login.example.org/',
      );
      await connection.open();
      FakeSocket.made[0].drop(1008);
      await connection.ready;
      assert.equal(FakeSocket.made.length, 1);
      assert.equal(errors.length, 1);
      connection.close();
    } finally {
      globalThis.WebSocket = saved;
    }
  });
});
