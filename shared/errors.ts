/** Named error classes; each maps to one exit code (CLI) and one HTTP status (API). */

/** Input that cannot be used as given: a bad event, file, flag or body. Exit 2, HTTP 400. */
export class InputError extends Error {
  override name = 'InputError';
}

/** A configuration key with a bad or missing value. Exit 2 at start. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A request body over the configured cap. HTTP 413. */
export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
}

/** Something asked for by name or id does not exist. Exit 2, HTTP 404. */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** A caller whose role does not cover what was asked. HTTP 403. */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError';
}

/** A change that conflicts with the current state (an alert already resolved). HTTP 409. */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/** The store could not commit; the caller may retry. HTTP 503. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/** The message of any thrown value, for logs and user-facing errors. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
