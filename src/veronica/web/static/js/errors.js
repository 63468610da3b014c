/**
 * One error type for everything the page can report: a stable `code` that the
 * message catalogue translates as `error.<code>`.
 * @module errors
 */

export class AppError extends Error {
  /**
   * @param {string} code stable error code (`camera_denied`, a server error code, …)
   * @param {string} [detail] technical detail for the console, never shown
   */
  constructor(code, detail = '') {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'AppError';
    this.code = code;
  }
}

/**
 * Any thrown value as an AppError (unexpected ones become `unknown`).
 * @param {unknown} error
 * @returns {AppError}
 */
export function asAppError(error) {
  if (error instanceof AppError) return error;
  return new AppError('unknown', error instanceof Error ? error.message : String(error));
}
