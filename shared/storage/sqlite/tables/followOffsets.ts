import type { Database } from 'better-sqlite3';
import { nowMicros, type Clock } from '../../../clock.js';

/** Where `ingest --follow` is in one followed file; saved in the transaction of the events before it. */
export interface FollowOffset {
  path: string;
  cluster: string;
  device: number;
  inode: number;
  /** SHA-256 of the file's first line ('' before one is read): finds the file again after rotation. */
  headHash: string;
  offset: number;
  line: number;
}

/** The saved position for `path`, or null. */
export function loadFollowOffset(db: Database, path: string): FollowOffset | null {
  const row = db
    .prepare('SELECT path, cluster, device, inode, head_hash AS headHash, offset, line FROM follow_offsets WHERE path = ?')
    .get(path) as FollowOffset | undefined;
  return row ?? null;
}

/** A saver of positions, for use inside a write transaction. */
export function createFollowOffsetSaver(db: Database, clock: Clock): (o: FollowOffset) => void {
  const upsert = db.prepare(`INSERT INTO follow_offsets (path, cluster, device, inode, head_hash, offset, line, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (path) DO UPDATE SET cluster = excluded.cluster, device = excluded.device, inode = excluded.inode,
      head_hash = excluded.head_hash, offset = excluded.offset, line = excluded.line, updated_at = excluded.updated_at`);
  return (o) => {
    upsert.run(o.path, o.cluster, o.device, o.inode, o.headHash, o.offset, o.line, nowMicros(clock));
  };
}
