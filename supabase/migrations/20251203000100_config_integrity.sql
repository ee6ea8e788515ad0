-- The document's optional `integrity` object (issue 12, item 3), checked in SQL as the
-- resolver checks it (resolver/src/config/integrity.rs), so both validators stay equal
-- (control-plane/tests/validator_diff.rs generates integrity entries and near-misses).
--
-- `integrity` maps a registry path (as given to Resolver::fetch; one leading `/` ignored) to
-- {"sha256": "sha256-<base64 of the SHA-256>", "size": <bytes>}:
-- - at most 64 paths; a path non-empty, at most 1024 bytes, no control or bidirectional
--   formatting characters, not `//...`, and not twice (`a` and `/a` are one path);
-- - `sha256` required: W3C Subresource Integrity's form, `sha256-` and the padded canonical
--   standard base64 (RFC 4648 section 4) of the 32-byte digest;
-- - `size` required: an integer 0..33554432 (32 MiB, the resolver's default body size cap).
-- Field names in errors (PT422, COLUMN): `integrity`, `integrity.sha256`, `integrity.size`.
--
-- The function below is 20251201000100_validator_and_rpc_strictness.sql's three-argument
-- app_private.validate_config with the integrity checks added after `version`; its grants are
-- kept by CREATE OR REPLACE. The two-argument form (GUC wrapper) is unchanged.

-- The marketplace_source checks, in resolver/src/config/validate.rs `validate` order, now ending
-- with `integrity` (resolver/src/config/integrity.rs `parse`).
CREATE OR REPLACE FUNCTION app_private.validate_config(p_key text, p_value jsonb, p_allow_private boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  t text;
  f text;
  item jsonb;
  h jsonb;
  o jsonb;
  interval_secs float8;
  timeout_ms numeric;
  base_secs float8;
  max_secs float8;
  p text;
  ig jsonb;
  ikey text;
  ientry jsonb;
  norm text;
  seen text[] := ARRAY[]::text[];
  n bigint;
BEGIN
  IF p_key IS NULL OR btrim(p_key) = '' OR length(p_key) > 200 THEN
    RAISE EXCEPTION 'invalid config key' USING ERRCODE = 'PT422', DETAIL = 'field=config_key', COLUMN = 'config_key';
  END IF;
  IF p_value IS NULL THEN
    RAISE EXCEPTION 'config value is required' USING ERRCODE = 'PT422', DETAIL = 'field=value', COLUMN = 'value';
  END IF;
  IF p_key <> 'marketplace_source' THEN
    IF octet_length(p_value::text) > 65536 THEN
      PERFORM app_private.raise_invalid('value', 'the document is larger than 65536 bytes');
    END IF;
    RETURN; -- other keys are free-form JSON
  END IF;
  IF jsonb_typeof(p_value) <> 'object' THEN
    PERFORM app_private.raise_invalid('value', 'marketplace_source must be a JSON object');
  END IF;
  IF octet_length(p_value::text) > 65536 THEN
    PERFORM app_private.raise_invalid('value',
      format('the document is %s bytes, more than 65536 bytes', octet_length(p_value::text)));
  END IF;
  IF jsonb_typeof(p_value -> 'type') IS DISTINCT FROM 'string' THEN
    PERFORM app_private.raise_invalid('type', 'the routing mode is required: a string, one of git, cdn, cloudflare, hybrid, canary');
  END IF;
  t := p_value ->> 'type';
  IF t NOT IN ('git', 'cdn', 'cloudflare', 'hybrid', 'canary') THEN
    PERFORM app_private.raise_invalid('type', 'type must be one of git, cdn, cloudflare, hybrid, canary');
  END IF;
  FOREACH f IN ARRAY ARRAY['gitUrl', 'cdnUrl', 'cloudflareUrl'] LOOP
    PERFORM app_private.check_type(f, p_value -> f, 'string');
    IF jsonb_typeof(p_value -> f) = 'string' THEN
      PERFORM app_private.check_origin_url(f, p_value ->> f, p_allow_private);
    END IF;
  END LOOP;
  IF t IN ('git', 'hybrid', 'canary') AND (p_value ->> 'gitUrl') IS NULL THEN
    PERFORM app_private.raise_invalid('gitUrl', format('gitUrl is required for type %s', t));
  END IF;
  IF t IN ('cdn', 'cloudflare', 'hybrid', 'canary') AND coalesce(p_value ->> 'cdnUrl', p_value ->> 'cloudflareUrl') IS NULL THEN
    PERFORM app_private.raise_invalid('cdnUrl', format('cdnUrl is required for type %s', t));
  END IF;
  IF t = 'canary' AND jsonb_typeof(p_value -> 'canaryPercent') IS DISTINCT FROM 'number' THEN
    PERFORM app_private.raise_invalid('canaryPercent', 'canaryPercent (0-100) is required for type canary');
  END IF;
  PERFORM app_private.check_number('canaryPercent', p_value -> 'canaryPercent', 0, 100);
  PERFORM app_private.check_type('priority', p_value -> 'priority', 'array');
  IF jsonb_typeof(p_value -> 'priority') = 'array' THEN
    FOR item IN SELECT e FROM jsonb_array_elements(p_value -> 'priority') AS e LOOP
      IF jsonb_typeof(item) <> 'string' OR (item #>> '{}') NOT IN ('git', 'cdn', 'cloudflare') THEN
        PERFORM app_private.raise_invalid('priority', 'priority entries must be git, cdn or cloudflare');
      END IF;
    END LOOP;
  END IF;
  PERFORM app_private.check_type('healthCheck', p_value -> 'healthCheck', 'object');
  IF jsonb_typeof(p_value -> 'healthCheck') = 'object' THEN
    h := p_value -> 'healthCheck';
    interval_secs := app_private.check_number('healthCheck.intervalSecs', h -> 'intervalSecs', 5, 86400);
    timeout_ms := app_private.check_integer('healthCheck.timeoutMs', h -> 'timeoutMs', 100, 600000);
    -- Compared as IEEE doubles, as the Rust does; defaults 60 s and 5000 ms count.
    IF coalesce(timeout_ms, 5000)::float8 >= coalesce(interval_secs, 60::float8) * 1000::float8 THEN
      PERFORM app_private.raise_invalid(
        CASE WHEN timeout_ms IS NOT NULL THEN 'healthCheck.timeoutMs' ELSE 'healthCheck.intervalSecs' END,
        'the probe timeout must be shorter than the interval');
    END IF;
    PERFORM app_private.check_integer('healthCheck.healthyThreshold', h -> 'healthyThreshold', 1, 4294967295);
    PERFORM app_private.check_integer('healthCheck.unhealthyThreshold', h -> 'unhealthyThreshold', 1, 4294967295);
    PERFORM app_private.check_type('healthCheck.path', h -> 'path', 'string');
    IF jsonb_typeof(h -> 'path') = 'string' THEN
      p := h ->> 'path';
      IF octet_length(p) > 1024 THEN
        PERFORM app_private.raise_invalid('healthCheck.path', 'longer than 1024 bytes');
      END IF;
      IF p ~ '[\u0001-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]' THEN
        PERFORM app_private.raise_invalid('healthCheck.path', 'control and bidirectional formatting characters are not allowed');
      END IF;
      IF strpos(p, '://') > 0 OR left(p, 2) = '//' THEN
        PERFORM app_private.raise_invalid('healthCheck.path', 'healthCheck.path must be a relative path');
      END IF;
    END IF;
  END IF;
  PERFORM app_private.check_type('outlierDetection', p_value -> 'outlierDetection', 'object');
  IF jsonb_typeof(p_value -> 'outlierDetection') = 'object' THEN
    o := p_value -> 'outlierDetection';
    PERFORM app_private.check_integer('outlierDetection.consecutiveFailures', o -> 'consecutiveFailures', 1, 4294967295);
    base_secs := app_private.check_number('outlierDetection.baseEjectionSecs', o -> 'baseEjectionSecs', 0, 86400);
    max_secs := app_private.check_number('outlierDetection.maxEjectionSecs', o -> 'maxEjectionSecs', 0, 86400);
    IF coalesce(max_secs, 300::float8) < coalesce(base_secs, 30::float8) THEN
      PERFORM app_private.raise_invalid('outlierDetection.maxEjectionSecs', 'must not be less than baseEjectionSecs');
    END IF;
  END IF;
  PERFORM app_private.check_type('healthCheckEnabled', p_value -> 'healthCheckEnabled', 'boolean');
  PERFORM app_private.check_type('fallbackOnError', p_value -> 'fallbackOnError', 'boolean');
  PERFORM app_private.check_integer('version', p_value -> 'version', 0, 9007199254740991);
  -- integrity: {path: {"sha256": "sha256-<base64>", "size": bytes}}, at most 64 paths, walked in
  -- jsonb's key order (shorter keys first, then bytewise), as the Rust sorts them.
  PERFORM app_private.check_type('integrity', p_value -> 'integrity', 'object');
  IF jsonb_typeof(p_value -> 'integrity') = 'object' THEN
    ig := p_value -> 'integrity';
    SELECT count(*) INTO n FROM jsonb_object_keys(ig);
    IF n > 64 THEN
      PERFORM app_private.raise_invalid('integrity', format('%s paths, more than 64', n));
    END IF;
    FOR ikey, ientry IN SELECT j.key, j.value FROM jsonb_each(ig) AS j LOOP
      IF octet_length(ikey) > 1024 THEN
        PERFORM app_private.raise_invalid('integrity', 'a path is longer than 1024 bytes');
      END IF;
      IF ikey ~ '[\u0001-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]' THEN
        PERFORM app_private.raise_invalid('integrity', 'a path holds control or bidirectional formatting characters');
      END IF;
      -- One leading `/` is ignored, as the resolver joins paths to origin URLs.
      norm := CASE WHEN left(ikey, 1) = '/' THEN substr(ikey, 2) ELSE ikey END;
      IF norm = '' THEN
        PERFORM app_private.raise_invalid('integrity', 'a path is empty');
      END IF;
      IF left(norm, 1) = '/' THEN
        PERFORM app_private.raise_invalid('integrity', format('the path `%s` is a network-path reference, not a path', left(ikey, 64)));
      END IF;
      IF norm = ANY (seen) THEN
        PERFORM app_private.raise_invalid('integrity', format('`%s` and `/%s` are the same path (one leading `/` is ignored)', left(norm, 64), left(norm, 64)));
      END IF;
      seen := seen || norm;
      IF jsonb_typeof(ientry) <> 'object' THEN
        PERFORM app_private.raise_invalid('integrity', format('the entry for `%s` must be an object {"sha256": "sha256-...", "size": bytes}', left(ikey, 64)));
      END IF;
      IF coalesce(jsonb_typeof(ientry -> 'sha256'), 'null') = 'null' THEN
        PERFORM app_private.raise_invalid('integrity.sha256', 'every integrity entry needs the body''s digest, `sha256-` and its base64');
      END IF;
      IF jsonb_typeof(ientry -> 'sha256') <> 'string' THEN
        PERFORM app_private.raise_invalid('integrity.sha256', 'must be a string');
      END IF;
      -- W3C Subresource Integrity's form: the padded, canonical standard base64 of 32 bytes.
      IF (ientry ->> 'sha256') !~ '^sha256-[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$' THEN
        PERFORM app_private.raise_invalid('integrity.sha256', format(
          'the entry for `%s` must be `sha256-` followed by the padded standard base64 of a 32-byte digest (W3C Subresource Integrity)', left(ikey, 64)));
      END IF;
      IF coalesce(jsonb_typeof(ientry -> 'size'), 'null') = 'null' THEN
        PERFORM app_private.raise_invalid('integrity.size', 'every integrity entry needs the body''s length in bytes');
      END IF;
      PERFORM app_private.check_integer('integrity.size', ientry -> 'size', 0, 33554432);
    END LOOP;
  END IF;
END
$$;
