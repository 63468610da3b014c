import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Catalogue, format, loadCatalogue, pickLanguage } from '../i18n.js';

describe('pickLanguage', () => {
  it('prefers ?lang= when supported', () => {
    assert.equal(pickLanguage('fr', ['en-US']), 'fr');
    assert.equal(pickLanguage('FR-ca', ['en-US']), 'fr');
  });

  it('falls back to the browser preferences, by primary subtag', () => {
    assert.equal(pickLanguage(null, ['de-DE', 'fr-CA', 'en']), 'fr');
    assert.equal(pickLanguage('xx', ['en-GB']), 'en');
  });

  it('ends with English', () => {
    assert.equal(pickLanguage(null, []), 'en');
    assert.equal(pickLanguage('', ['de', 'es']), 'en');
  });
});

describe('format', () => {
  it('fills named placeholders', () => {
    assert.equal(format('Welcome, {username}.', { username: 'alice' }), 'Welcome, alice.');
    assert.equal(format('{n} of {n}', { n: 3 }), '3 of 3');
  });

  it('leaves unknown placeholders visible', () => {
    assert.equal(format('Hello {who}', {}), 'Hello {who}');
  });
});

describe('Catalogue', () => {
  const catalogue = new Catalogue('fr', { 'a.b': 'bonjour {name}' }, { 'a.b': 'hello', 'a.c': 'only english' });

  it('uses the language first, then English, then the key', () => {
    assert.equal(catalogue.t('a.b', { name: 'Zoé' }), 'bonjour Zoé');
    assert.equal(catalogue.t('a.c'), 'only english');
    const warn = console.warn;
    console.warn = () => {};
    try {
      assert.equal(catalogue.t('a.missing'), 'a.missing');
    } finally {
      console.warn = warn;
    }
  });

  it('knows which keys exist', () => {
    assert.ok(catalogue.has('a.c'));
    assert.ok(!catalogue.has('a.missing'));
    assert.ok(!catalogue.has('toString'), 'no prototype keys');
  });
});

describe('loadCatalogue', () => {
  /** @param {Record<string, Record<string, string>>} files */
  const fakeFetch = (files) => /** @type {typeof fetch} */ (
    async (url) => {
      const name = String(url).split('/').pop()?.replace('.json', '') ?? '';
      const body = files[name];
      return new Response(JSON.stringify(body ?? {}), { status: body ? 200 : 404 });
    }
  );

  it('loads the language with English as fallback', async () => {
    const catalogue = await loadCatalogue('fr', fakeFetch({ fr: { x: 'fr' }, en: { x: 'en', y: 'en' } }));
    assert.equal(catalogue.lang, 'fr');
    assert.equal(catalogue.t('x'), 'fr');
    assert.equal(catalogue.t('y'), 'en');
  });

  it('fails when a catalogue is missing', async () => {
    await assert.rejects(loadCatalogue('fr', fakeFetch({ en: {} })), /catalogue fr/);
  });
});
