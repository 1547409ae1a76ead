-- Refused API calls are recorded compactly: one row per client address, minute, status and
-- path, counting the calls, so that a flood cannot fill the disk.
ALTER TABLE self_audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
