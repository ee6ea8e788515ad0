-- A table write may rename a key (PostgREST: PATCH /app_config?config_key=eq.a {"config_key":"b"}).
-- The audit trigger notified only the new key, so every listening replica kept serving the old
-- key from memory until its next resync. Same function as 20251031000100_app_config.sql, plus
-- one notification for the old key when an UPDATE changes config_key (a listener re-reads it,
-- finds no row and forgets it). The history row is unchanged: it names the new key.
CREATE OR REPLACE FUNCTION app_private.app_config_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
  k text := coalesce(NEW.config_key, OLD.config_key);
  v bigint := coalesce(NEW.version, OLD.version);
BEGIN
  INSERT INTO public.app_config_history
    (config_id, config_key, version, op, old_value, new_value, changed_by, changed_role, reason)
  VALUES (coalesce(NEW.id, OLD.id), k, v, TG_OP,
          CASE WHEN TG_OP <> 'INSERT' THEN OLD.config_value END,
          CASE WHEN TG_OP <> 'DELETE' THEN NEW.config_value END,
          auth.uid(),
          coalesce(auth.role(), nullif(nullif(current_setting('role', true), ''), 'none'), session_user),
          nullif(current_setting('sourcegate.change_reason', true), ''));
  PERFORM pg_notify('app_config_changed',
                    json_build_object('key', k, 'version', v, 'op', TG_OP)::text);
  IF TG_OP = 'UPDATE' AND OLD.config_key IS DISTINCT FROM NEW.config_key THEN
    PERFORM pg_notify('app_config_changed',
                      json_build_object('key', OLD.config_key, 'version', v, 'op', TG_OP)::text);
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION app_private.app_config_audit() FROM PUBLIC;
