/**
 * All user-visible text comes from one catalogue per language
 * (`/static/messages/<lang>.json`); English fills any gap.
 * @module i18n
 */

/** Languages with a catalogue; the first is the fallback. */
export const SUPPORTED = /** @type {const} */ (['en', 'fr']);
export const FALLBACK = SUPPORTED[0];

/**
 * The language to show: `?lang=` if supported, else the first supported
 * browser preference (by primary subtag: `fr-CA` → `fr`), else English.
 * @param {string | null} requested
 * @param {readonly string[]} preferred e.g. `navigator.languages`
 * @param {readonly string[]} [supported]
 * @returns {string}
 */
export function pickLanguage(requested, preferred, supported = SUPPORTED) {
  for (const tag of [requested ?? '', ...preferred]) {
    const primary = tag.trim().toLowerCase().split(/[-_]/)[0];
    if (supported.includes(primary)) return primary;
  }
  return supported[0];
}

/**
 * Fill `{name}` placeholders; unknown ones are left visible so a gap is noticed.
 * @param {string} template
 * @param {Record<string, string | number>} [params]
 * @returns {string}
 */
export function format(template, params = {}) {
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

/** @typedef {Record<string, string>} Messages */

export class Catalogue {
  /**
   * @param {string} lang
   * @param {Messages} messages
   * @param {Messages} [fallback] English, for keys the language lacks
   */
  constructor(lang, messages, fallback = {}) {
    this.lang = lang;
    this.messages = messages;
    this.fallback = fallback;
  }

  /**
   * @param {string} key
   * @returns {boolean}
   */
  has(key) {
    return Object.hasOwn(this.messages, key) || Object.hasOwn(this.fallback, key);
  }

  /**
   * The message for `key`; the key itself if no catalogue has it.
   * @param {string} key
   * @param {Record<string, string | number>} [params]
   * @returns {string}
   */
  t(key, params) {
    const template = this.messages[key] ?? this.fallback[key];
    if (template === undefined) {
      console.warn(`i18n: no message for ${key}`);
      return key;
    }
    return format(template, params);
  }
}

/**
 * @param {string} lang
 * @param {typeof fetch} [fetchImpl]
 * @returns {Promise<Catalogue>}
 */
export async function loadCatalogue(lang, fetchImpl = fetch) {
  /** @param {string} code @returns {Promise<Messages>} */
  const load = async (code) => {
    const response = await fetchImpl(`/static/messages/${code}.json`);
    if (!response.ok) throw new Error(`catalogue ${code}: HTTP ${response.status}`);
    return /** @type {Messages} */ (await response.json());
  };
  if (lang === FALLBACK) return new Catalogue(lang, await load(lang));
  const [messages, fallback] = await Promise.all([load(lang), load(FALLBACK)]);
  return new Catalogue(lang, messages, fallback);
}

/**
 * Translate the static markup: `data-i18n` (text), `data-i18n-label`
 * (aria-label), `data-i18n-placeholder`.
 * @param {ParentNode} root
 * @param {Catalogue} catalogue
 */
export function translateDocument(root, catalogue) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = catalogue.t(/** @type {string} */ (el.getAttribute('data-i18n')));
  }
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', catalogue.t(/** @type {string} */ (el.getAttribute('data-i18n-label'))));
  }
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
    el.setAttribute(
      'placeholder',
      catalogue.t(/** @type {string} */ (el.getAttribute('data-i18n-placeholder'))),
    );
  }
}
