-- Archives are deleted only when the configuration says so (retention.deleteArchivesAfterDays):
-- the setting that deleted one is kept with it, so that a restore of that day can say so.
ALTER TABLE archives ADD COLUMN expired_by TEXT;
