import { errorMessage } from '../errors.js';

/**
 * Why JSON.parse refused some input, without the input: V8 quotes a piece of it in some messages
 * (`Unexpected token 's', "{"a": secretvalue}" is not valid JSON`), and a reason is stored, logged
 * and answered. Positions and the one unexpected character stay.
 */
export function jsonErrorReason(err: unknown): string {
  return errorMessage(err).replace(/, ".*" is not valid JSON$/s, ' (not valid JSON)');
}
