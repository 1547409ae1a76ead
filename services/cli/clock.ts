import type { Clock } from '../../shared/clock.js';

/** The machine's wall clock: the composition root hands it to everything that needs the time. */
export const systemClock: Clock = () => Date.now();
