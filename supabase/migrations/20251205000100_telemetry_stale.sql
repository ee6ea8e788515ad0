-- Fleet telemetry: requests answered from a stale kept body (issue 13, the drill's
-- autopilot-rollback phase). A resolver that keeps the registry's last body serves it when
-- every origin fails (RFC 9111 §4.2.4); those requests are not `errors` to the app, but every
-- origin failed them, so the autopilot's error share counts them too. Reports without the
-- field (older resolvers) add 0. Runs unchanged on Supabase and on plain PostgreSQL 15+.
ALTER TABLE app_private.telemetry_minutes
  ADD COLUMN IF NOT EXISTS stale bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN app_private.telemetry_minutes.stale IS
  'Requests no origin could serve that the resolver answered from a stale kept body (reports'' `stale`).';
