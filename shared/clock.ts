/**
 * Time as a dependency. Every function whose answer depends on the current time takes it from
 * its caller; only the composition root (`services/cli/clock.ts`) reads the wall clock: so any
 * of them can be run, and tested, on any day.
 */

/** The current time in milliseconds since the epoch. */
export type Clock = () => number;

/** A clock stopped at `ms`, or moved by hand: for tests and for replaying a fixed moment. */
export function fixedClock(ms: number): Clock & { set(ms: number): void } {
  let now = ms;
  return Object.assign(() => now, { set: (t: number) => void (now = t) });
}

/** The clock's time in microseconds, the unit of every stored time. */
export const nowMicros = (clock: Clock): number => clock() * 1000;
