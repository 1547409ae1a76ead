-- Quarantined input is kept redacted (audit/quarantineForm.ts), with the size and SHA-256 of
-- what was received. Rows kept verbatim by an earlier kubetrail are redacted when the store is
-- next opened by a writer (EventWriter), with secure_delete on, so no page keeps the old bytes.
ALTER TABLE quarantine ADD COLUMN raw_sha256 TEXT;
