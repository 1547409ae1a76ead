import { systemClock } from './clock.js';
import { hostname, userInfo } from 'node:os';
import type { Config } from '../../shared/config.js';
import { InputError } from '../../shared/errors.js';
import { DECISIONS, buildReview, findSubject, type Decision } from '../../shared/rbac/accessReview.js';
import { staleAccounts, usageReport } from '../../shared/analysis/usageWindow.js';
import { formatReview, type ReviewFormat } from '../analyzer/reviewOutput.js';
import { usingStore } from './localStore.js';
import { writeRows, type OutputFormat } from './output.js';
import type { StateFlags } from './rbacCommand.js';
import { sourceFrom, windowFrom, type WindowFlags } from './usageCommand.js';

/** `kubetrail review …`: the access-review pack (PCI DSS 7.2.4, 7.2.5.1, 8.2.6) and its decisions. */

function whoRuns(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  return `${user}@${hostname()}`;
}

/** `review export`: builds the pack, keeps it as a new review (decisions attach to it), prints it. Returns the subjects exported. */
export async function reviewExportCommand(config: Readonly<Config>, flags: WindowFlags & { output: ReviewFormat }): Promise<number> {
  return usingStore(config, 'write', async (store) => {
    const window = windowFrom(config, flags);
    const source = sourceFrom(flags);
    const report = await usageReport(store, source, window);
    const { accounts } = await staleAccounts(store, source, { cluster: window.cluster, nowMicros: systemClock() * 1000, idleDays: config.idle.days });
    const previous = (await store.reviews.lastDecided(window.cluster)) ?? (await store.reviews.latest(window.cluster));
    const pack = buildReview(report, accounts, previous?.subjects ?? null);
    const createdAt = systemClock() * 1000;
    const createdBy = whoRuns();
    const id = await store.reviews.save({ createdAt, createdBy, cluster: window.cluster, since: Date.parse(report.window.since) * 1000, until: Date.parse(report.window.until) * 1000, rbac: report.snapshot, subjects: pack.subjects });
    process.stdout.write(
      formatReview(
        {
          id,
          createdAt: new Date(createdAt / 1000).toISOString(),
          createdBy,
          cluster: window.cluster,
          rbac: report.snapshot,
          window: report.window,
          idleDays: config.idle.days,
          previous: previous && { id: previous.id, createdAt: previous.createdAt, decisions: previous.decisions },
          changes: pack.changes,
          subjects: pack.subjects,
        },
        flags.output,
      ),
    );
    return pack.subjects.length;
  });
}

/** `review record`: one reviewer's decision on one subject of a review (the cluster's newest unless --review). */
export async function reviewRecordCommand(config: Readonly<Config>, flags: StateFlags & { review?: string; subject: string; decision: string; reviewer: string; note?: string }): Promise<void> {
  if (!(DECISIONS as readonly string[]).includes(flags.decision)) throw new InputError(`--decision: expected keep, reduce or remove, got '${flags.decision}'`);
  if (flags.reviewer.trim() === '') throw new InputError('--reviewer: must not be empty');
  await usingStore(config, 'write', async (store) => {
    const cluster = flags.cluster ?? config.cluster;
    let review;
    if (flags.review !== undefined) {
      const id = Number(flags.review);
      if (!Number.isSafeInteger(id) || id < 1) throw new InputError(`--review: expected a review number, got '${flags.review}'`);
      review = await store.reviews.get(id);
    } else {
      review = await store.reviews.latest(cluster);
      if (!review) throw new InputError(`no access review of cluster '${cluster}' yet: run kubetrail review export first`);
    }
    const subject = findSubject(review.subjects, flags.subject);
    if ('problem' in subject) throw new InputError(`--subject: ${subject.problem}`);
    await store.reviews.recordDecision({ reviewId: review.id, subject: subject.subject, decision: flags.decision as Decision, reviewer: flags.reviewer.trim(), note: flags.note ?? null, at: systemClock() * 1000 });
    process.stdout.write(`recorded in review #${review.id}: ${subject.subject}: ${flags.decision} by ${flags.reviewer.trim()}\n`);
  });
}

/** `review list`: every review, newest first, with how many decisions it has. */
export async function reviewListCommand(config: Readonly<Config>, flags: { output: OutputFormat }): Promise<number> {
  return usingStore(config, 'write', async (store) =>
    writeRows(process.stdout, await store.reviews.list(), ['id', 'createdAt', 'createdBy', 'cluster', 'subjects', 'decisions', 'lastDecision'], flags.output),
  );
}

/** `review show ID`: the decisions of a past review, and the subjects nobody decided on. */
export async function reviewShowCommand(config: Readonly<Config>, idText: string, flags: { output: OutputFormat }): Promise<number> {
  const id = Number(idText);
  if (!Number.isSafeInteger(id) || id < 1) throw new InputError(`expected a review number, got '${idText}'`);
  return usingStore(config, 'write', async (store) => {
    const review = await store.reviews.get(id);
    const decided = new Map(review.decisions.map((d) => [d.subject, d]));
    const rows = review.subjects.map((s) => {
      const d = decided.get(s.subject);
      return { subject: s.subject, granted: s.granted, unused: s.unused, dangerous: s.dangerous, decision: d?.decision ?? null, reviewer: d?.reviewer ?? null, decidedAt: d?.decidedAt ?? null, note: d?.note ?? null };
    });
    if (flags.output === 'table') process.stdout.write(`review #${review.id} of ${review.cluster}, exported ${review.createdAt} by ${review.createdBy}; ${review.decisions.length} decision(s) on ${decided.size} of ${review.subjects.length} subjects\n`);
    return writeRows(process.stdout, rows, ['subject', 'granted', 'unused', 'dangerous', 'decision', 'reviewer', 'decidedAt', 'note'], flags.output);
  });
}
