/**
 * Failures of the audit pipeline itself (PCI DSS 10.7.2, finding `audit-pipeline-gap`): per
 * cluster and source, kubetrail learns how many events a window of `gap.minutes` normally
 * brings, and opens a gap when a learned stream goes silent for a whole window or its rate
 * collapses. Controllers and kubelets make constant API traffic, so a healthy cluster is never
 * silent for long. Pure: arrivals and the clock come in, gap openings and closings go out.
 */

export interface GapSettings {
  /** A window; silence for this long opens a gap (gap.minutes). */
  windowMs: number;
  /** A window bringing less than this share of the learned rate is a collapse. */
  collapseRatio: number;
  /** Windows with events needed before a stream's rate is known. */
  learnWindows: number;
  /** Collapse is judged only for streams that normally bring at least this many events a window. */
  minEventsPerWindow: number;
}

export const DEFAULT_GAP_SETTINGS: Omit<GapSettings, 'windowMs'> = { collapseRatio: 0.1, learnWindows: 3, minEventsPerWindow: 10 };

export type GapKind = 'silence' | 'rate-collapse';

export type GapEvent =
  | { type: 'open'; cluster: string; source: string; kind: GapKind; startedAt: number; detectedAt: number; expectedPerWindow: number; seen: number }
  | { type: 'close'; cluster: string; source: string; endedAt: number; lateEvents: boolean };

/** What the watch knows of one stream across windows: what a restart must not forget. */
export interface StreamState {
  cluster: string;
  source: string;
  /** Events a window normally brings, and the windows that was learned from. */
  baseline: number;
  learned: number;
  lastArrival: number;
  gap: { kind: GapKind; startedAt: number; lateEvents: boolean } | null;
}

interface Stream extends StreamState {
  windowStart: number;
  count: number;
}

export class GapWatch {
  private readonly streams = new Map<string, Stream>();

  constructor(private readonly s: GapSettings) {}

  /**
   * Events arrived (committed) for a cluster from a source; `oldestEventAt` is the earliest
   * request time among them (ms, as `now`): events from inside an open gap show it was a
   * delay, not a loss.
   */
  observe(cluster: string, source: string, count: number, now: number, oldestEventAt: number): GapEvent[] {
    const key = `${cluster}\u0000${source}`;
    let st = this.streams.get(key);
    if (!st) this.streams.set(key, (st = { cluster, source, windowStart: now, count: 0, baseline: 0, learned: 0, lastArrival: now, gap: null }));
    const out = this.roll(st, now);
    st.count += count;
    st.lastArrival = now;
    if (st.gap) {
      if (oldestEventAt < now - this.s.windowMs / 2 && oldestEventAt >= st.gap.startedAt - this.s.windowMs) st.gap.lateEvents = true;
      // Silence ends with the first events; a collapse when a window brings the rate back (roll).
      if (st.gap.kind === 'silence') {
        out.push({ type: 'close', cluster, source, endedAt: now, lateEvents: st.gap.lateEvents });
        st.gap = null;
      }
    }
    return out;
  }

  /** What it knows of each stream, to keep across a restart. */
  states(): StreamState[] {
    return [...this.streams.values()].map(({ cluster, source, baseline, learned, lastArrival, gap }) => ({ cluster, source, baseline, learned, lastArrival, gap: gap && { ...gap } }));
  }

  /**
   * Streams known before a restart: their next window starts `now`. A learned stream silent
   * since before the restart opens a gap at the next tick, from its last arrival: the
   * downtime was a gap in the pipeline too.
   */
  restore(states: readonly StreamState[], now: number): void {
    for (const st of states) this.streams.set(`${st.cluster}\u0000${st.source}`, { ...st, gap: st.gap && { ...st.gap }, windowStart: now, count: 0 });
  }

  /** The clock moved on: windows close, gaps open. */
  tick(now: number): GapEvent[] {
    const out: GapEvent[] = [];
    for (const st of this.streams.values()) {
      out.push(...this.roll(st, now));
      if (!st.gap && st.learned >= this.s.learnWindows && now - st.lastArrival >= this.s.windowMs) {
        st.gap = { kind: 'silence', startedAt: st.lastArrival, lateEvents: false };
        out.push({ type: 'open', cluster: st.cluster, source: st.source, kind: 'silence', startedAt: st.lastArrival, detectedAt: now, expectedPerWindow: Math.round(st.baseline), seen: 0 });
      }
    }
    return out;
  }

  /** Closes the windows that ended by `now`, learning from them or judging them. */
  private roll(st: Stream, now: number): GapEvent[] {
    const out: GapEvent[] = [];
    while (now >= st.windowStart + this.s.windowMs) {
      const count = st.count;
      const windowStart = st.windowStart;
      st.windowStart += this.s.windowMs;
      st.count = 0;
      const known = st.learned >= this.s.learnWindows;
      if (st.gap?.kind === 'rate-collapse' && count >= st.baseline * 0.5) {
        out.push({ type: 'close', cluster: st.cluster, source: st.source, endedAt: st.windowStart, lateEvents: st.gap.lateEvents });
        st.gap = null;
      } else if (!st.gap && known && st.baseline >= this.s.minEventsPerWindow && count > 0 && count < st.baseline * this.s.collapseRatio) {
        st.gap = { kind: 'rate-collapse', startedAt: windowStart, lateEvents: false };
        out.push({ type: 'open', cluster: st.cluster, source: st.source, kind: 'rate-collapse', startedAt: windowStart, detectedAt: now, expectedPerWindow: Math.round(st.baseline), seen: count });
      }
      // The rate is learned from windows outside gaps, and only from windows with events (a silent one is judged by tick).
      if (!st.gap && count > 0) {
        st.baseline = st.learned === 0 ? count : st.baseline * 0.8 + count * 0.2;
        st.learned++;
      }
    }
    return out;
  }
}
