import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { frameHeader, responseError, streamUrl } from '../api.js';

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
