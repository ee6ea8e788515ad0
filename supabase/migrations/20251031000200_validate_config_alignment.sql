-- Align the SQL shape check of marketplace_source with the resolver's parser
-- (resolver/src/config.rs, `MarketplaceConfig::from_json_slice`), so a document
-- written through PostgREST (`/rest/v1/rpc/update_app_config`, which has no Rust
-- check in front of it) is not one every client would then refuse:
--   * `canary` requires `canaryPercent` (a number in 0..100);
--   * `priority` entries must be `git`, `cdn` or `cloudflare`;
--   * `healthCheck.path`, when present, must be a relative path.
-- Same signature, same error contract (SQLSTATE PT422, DETAIL 'field=<name>', COLUMN <name>).
CREATE OR REPLACE FUNCTION app_private.validate_config(p_key text, p_value jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  t text;
  f text;
  cdn text;
  pct numeric;
  item jsonb;
BEGIN
  IF p_key IS NULL OR btrim(p_key) = '' OR length(p_key) > 200 THEN
    RAISE EXCEPTION 'invalid config key' USING ERRCODE = 'PT422', DETAIL = 'field=config_key', COLUMN = 'config_key';
  END IF;
  IF p_value IS NULL THEN
    RAISE EXCEPTION 'config value is required' USING ERRCODE = 'PT422', DETAIL = 'field=value', COLUMN = 'value';
  END IF;
  IF p_key <> 'marketplace_source' THEN
    RETURN; -- other keys are free-form JSON
  END IF;
  IF jsonb_typeof(p_value) <> 'object' THEN
    RAISE EXCEPTION 'marketplace_source must be a JSON object' USING ERRCODE = 'PT422', DETAIL = 'field=value', COLUMN = 'value';
  END IF;
  IF jsonb_typeof(p_value -> 'type') IS DISTINCT FROM 'string' THEN
    RAISE EXCEPTION 'type must be a string' USING ERRCODE = 'PT422', DETAIL = 'field=type', COLUMN = 'type';
  END IF;
  t := p_value ->> 'type';
  IF t NOT IN ('git', 'cdn', 'cloudflare', 'hybrid', 'canary') THEN
    RAISE EXCEPTION 'type must be one of git, cdn, cloudflare, hybrid, canary' USING ERRCODE = 'PT422', DETAIL = 'field=type', COLUMN = 'type';
  END IF;
  FOREACH f IN ARRAY ARRAY['gitUrl', 'cdnUrl', 'cloudflareUrl'] LOOP
    IF p_value ? f AND jsonb_typeof(p_value -> f) <> 'null' THEN
      IF jsonb_typeof(p_value -> f) <> 'string' OR (p_value ->> f) !~* '^https?://[^/\s?#]+' THEN
        RAISE EXCEPTION '% must be an http(s) URL', f USING ERRCODE = 'PT422', DETAIL = 'field=' || f, COLUMN = f;
      END IF;
    END IF;
  END LOOP;
  cdn := coalesce(p_value ->> 'cdnUrl', p_value ->> 'cloudflareUrl');
  IF t IN ('git', 'hybrid', 'canary') AND (p_value ->> 'gitUrl') IS NULL THEN
    RAISE EXCEPTION 'gitUrl is required for type %', t USING ERRCODE = 'PT422', DETAIL = 'field=gitUrl', COLUMN = 'gitUrl';
  END IF;
  IF t IN ('cdn', 'cloudflare', 'hybrid', 'canary') AND cdn IS NULL THEN
    RAISE EXCEPTION 'cdnUrl is required for type %', t USING ERRCODE = 'PT422', DETAIL = 'field=cdnUrl', COLUMN = 'cdnUrl';
  END IF;
  IF t = 'canary' AND jsonb_typeof(p_value -> 'canaryPercent') IS DISTINCT FROM 'number' THEN
    RAISE EXCEPTION 'canaryPercent (0-100) is required for type canary' USING ERRCODE = 'PT422', DETAIL = 'field=canaryPercent', COLUMN = 'canaryPercent';
  END IF;
  IF p_value ? 'canaryPercent' AND jsonb_typeof(p_value -> 'canaryPercent') <> 'null' THEN
    IF jsonb_typeof(p_value -> 'canaryPercent') <> 'number' THEN
      RAISE EXCEPTION 'canaryPercent must be a number' USING ERRCODE = 'PT422', DETAIL = 'field=canaryPercent', COLUMN = 'canaryPercent';
    END IF;
    pct := (p_value ->> 'canaryPercent')::numeric;
    IF pct < 0 OR pct > 100 THEN
      RAISE EXCEPTION 'canaryPercent must be between 0 and 100' USING ERRCODE = 'PT422', DETAIL = 'field=canaryPercent', COLUMN = 'canaryPercent';
    END IF;
  END IF;
  IF p_value ? 'priority' AND jsonb_typeof(p_value -> 'priority') <> 'null' THEN
    IF jsonb_typeof(p_value -> 'priority') <> 'array' THEN
      RAISE EXCEPTION 'priority must be an array' USING ERRCODE = 'PT422', DETAIL = 'field=priority', COLUMN = 'priority';
    END IF;
    FOR item IN SELECT e FROM jsonb_array_elements(p_value -> 'priority') AS e LOOP
      IF jsonb_typeof(item) <> 'string' OR (item #>> '{}') NOT IN ('git', 'cdn', 'cloudflare') THEN
        RAISE EXCEPTION 'priority entries must be git, cdn or cloudflare' USING ERRCODE = 'PT422', DETAIL = 'field=priority', COLUMN = 'priority';
      END IF;
    END LOOP;
  END IF;
  IF jsonb_typeof(p_value #> '{healthCheck,path}') = 'string'
     AND ((p_value #>> '{healthCheck,path}') LIKE '%://%' OR (p_value #>> '{healthCheck,path}') LIKE '//%') THEN
    RAISE EXCEPTION 'healthCheck.path must be a relative path' USING ERRCODE = 'PT422', DETAIL = 'field=healthCheck.path', COLUMN = 'healthCheck.path';
  END IF;
END
$$;
REVOKE ALL ON FUNCTION app_private.validate_config(text, jsonb) FROM PUBLIC;
