-- One document validator, in SQL and in Rust, proven equal; stricter RPC.
--
-- 1. app_private.validate_config now applies every rule of the resolver's parser
--    (resolver/src/config.rs, `validate`), in the same order, naming the same field:
--    typed fields, URL rules (http(s), ASCII host, no userinfo/query/fragment, no control
--    or bidi characters, host grammar, port), healthCheck/outlierDetection ranges, the
--    64 KiB document limit (octet_length of the jsonb text form), `version` 0..2^53-1.
--    Write-time rule: literal private/loopback/link-local hosts and `localhost` are refused
--    unless the GUC `sourcegate.allow_private_origins` is `on` (the control plane sets it on
--    its request connections when started with --allow-private-origins; default off).
--    control-plane/tests/validator_diff.rs runs generated documents through both.
-- 2. public.update_app_config gains `p_force boolean DEFAULT false`; a change whose document
--    equals the current one (ignoring the `version` key the stamp trigger adds) raises PT409
--    with DETAIL 'no_change' unless forced. `p_reason` is limited to 1 KiB (PT422, COLUMN reason).
--    It is now SECURITY INVOKER: the admin check stays, RLS write policies and the SECURITY
--    DEFINER triggers (validation, stamps, history) enforce the rest.
-- 3. anon/authenticated lose any grant on the history table's identity sequence (Supabase's
--    default privileges grant it; only the SECURITY DEFINER audit trigger inserts).
--
-- Error contract (unchanged codes): PT422 + DETAIL 'field=<name>' + COLUMN <name>;
-- PT409 + DETAIL 'current_version=N' (stale) or 'no_change'; 42501 not admin.

-- A JSON number written as an integer (no fraction, no exponent in its numeric text), else NULL.
CREATE OR REPLACE FUNCTION app_private.json_integer(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'number' AND (v #>> '{}') ~ '^-?[0-9]+$'
              THEN (v #>> '{}')::numeric END
$$;

-- VOLATILE: it only raises, and must never be folded at plan time.
CREATE OR REPLACE FUNCTION app_private.raise_invalid(p_field text, p_message text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = '' AS $$
BEGIN
  RAISE EXCEPTION '%: %', p_field, p_message
    USING ERRCODE = 'PT422', DETAIL = 'field=' || p_field, COLUMN = p_field;
END
$$;

-- Literal non-public host (same lists as PRIVATE_V4 / PRIVATE_V6 in resolver/src/config.rs):
-- `localhost`, `*.localhost`, and IP literals in IANA's not-globally-reachable ranges.
CREATE OR REPLACE FUNCTION app_private.is_private_host(p_host text, p_ip inet) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
  SELECT lower(p_host) = 'localhost' OR lower(p_host) LIKE '%.localhost'
      OR coalesce(p_ip <<= ANY (ARRAY[
           '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16',
           '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15',
           '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
           '::/96', '::ffff:0:0/96', '64:ff9b::/96', '100::/64', '2001:db8::/32', 'fc00::/7',
           'fe80::/10', 'fec0::/10', 'ff00::/8']::inet[]), false)
$$;

-- An origin base URL (rules: resolver/src/config.rs `check_origin_url`). Raises PT422 naming p_field.
CREATE OR REPLACE FUNCTION app_private.check_origin_url(p_field text, p_url text, p_allow_private boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  rest text;
  authority text;
  path text;
  host text;
  port text;
  ip inet;
  bracketed boolean;
BEGIN
  IF octet_length(p_url) > 2048 THEN
    PERFORM app_private.raise_invalid(p_field, 'longer than 2048 bytes');
  END IF;
  IF p_url ~ '[\u0001-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]' THEN
    PERFORM app_private.raise_invalid(p_field,
      'control characters and bidirectional formatting characters (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) are not allowed');
  END IF;
  IF p_url !~ '^[\u0020-\u007e]*$' THEN
    IF p_url ~* '^https?://[^/]*[^\u0020-\u007e]' THEN
      PERFORM app_private.raise_invalid(p_field,
        'the host must be written in its ASCII (IDNA/punycode) form, e.g. xn--bcher-kva.example for bücher.example');
    END IF;
    PERFORM app_private.raise_invalid(p_field, 'non-ASCII characters must be percent-encoded');
  END IF;
  IF p_url !~* '^https?://' THEN
    PERFORM app_private.raise_invalid(p_field, 'must be an http:// or https:// URL');
  END IF;
  IF strpos(p_url, '?') > 0 OR strpos(p_url, '#') > 0 THEN
    PERFORM app_private.raise_invalid(p_field, 'a base URL takes no query or fragment');
  END IF;
  rest := substr(p_url, strpos(p_url, '://') + 3);
  authority := split_part(rest, '/', 1);
  path := substr(rest, length(authority) + 1);
  IF strpos(authority, '@') > 0 THEN
    PERFORM app_private.raise_invalid(p_field, 'credentials in the URL are not allowed');
  END IF;
  IF path !~ '^[A-Za-z0-9._~!$&''()*+,;=:@%/-]*$' THEN
    PERFORM app_private.raise_invalid(p_field, 'the path may only hold letters, digits and -._~!$&''()*+,;=:@%/');
  END IF;
  bracketed := left(authority, 1) = '[';
  IF bracketed THEN
    IF strpos(authority, ']') = 0 THEN
      PERFORM app_private.raise_invalid(p_field, 'malformed IPv6 host');
    END IF;
    host := substr(authority, 2, strpos(authority, ']') - 2);
    port := substr(authority, strpos(authority, ']') + 1);
    IF port = '' THEN
      port := NULL;
    ELSIF left(port, 1) = ':' THEN
      port := substr(port, 2);
    ELSE
      PERFORM app_private.raise_invalid(p_field, 'malformed host');
    END IF;
  ELSIF strpos(authority, ':') > 0 THEN
    host := split_part(authority, ':', 1);
    port := substr(authority, strpos(authority, ':') + 1);
  ELSE
    host := authority;
    port := NULL;
  END IF;
  IF host = '' THEN
    PERFORM app_private.raise_invalid(p_field, 'no host');
  END IF;
  IF bracketed THEN
    IF host !~* '^[0-9a-f:.]+$' THEN
      PERFORM app_private.raise_invalid(p_field, format('`%s` is not an IPv6 address', host));
    END IF;
    BEGIN
      ip := host::inet;
    EXCEPTION WHEN others THEN
      ip := NULL;
    END;
    IF ip IS NULL OR family(ip) <> 6 THEN
      PERFORM app_private.raise_invalid(p_field, format('`%s` is not an IPv6 address', host));
    END IF;
  ELSIF host ~ '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$' THEN
    ip := host::inet;
  ELSIF octet_length(host) <= 253
        AND host ~* '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
    ip := NULL;
  ELSE
    PERFORM app_private.raise_invalid(p_field, format('`%s` is not a valid host name or IPv4 address', host));
  END IF;
  IF port IS NOT NULL AND (port !~ '^[0-9]{1,5}$' OR port::integer NOT BETWEEN 1 AND 65535) THEN
    PERFORM app_private.raise_invalid(p_field, format('port `%s` is not in 1..=65535', port));
  END IF;
  IF NOT p_allow_private AND app_private.is_private_host(host, ip) THEN
    PERFORM app_private.raise_invalid(p_field, format(
      '`%s` is a private, loopback, link-local or otherwise non-public address (allowed only when the server allows private origins)', host));
  END IF;
END
$$;

-- A number field within lo..hi (NULL/absent is fine). Returns it as float8, or NULL.
CREATE OR REPLACE FUNCTION app_private.check_number(p_field text, v jsonb, lo numeric, hi numeric)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  n numeric;
BEGIN
  IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(v) <> 'number' THEN
    PERFORM app_private.raise_invalid(p_field, 'must be a number');
  END IF;
  n := (v #>> '{}')::numeric;
  IF n < lo OR n > hi THEN
    PERFORM app_private.raise_invalid(p_field, format('%s is outside %s..=%s', n, lo, hi));
  END IF;
  RETURN n::float8;
END
$$;

-- An integer field (JSON number without fraction or exponent) within lo..hi. Returns it, or NULL.
CREATE OR REPLACE FUNCTION app_private.check_integer(p_field text, v jsonb, lo numeric, hi numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
DECLARE
  n numeric;
BEGIN
  IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(v) <> 'number' THEN
    PERFORM app_private.raise_invalid(p_field, 'must be an integer');
  END IF;
  n := app_private.json_integer(v);
  IF n IS NULL THEN
    PERFORM app_private.raise_invalid(p_field, format('%s is not an integer', v #>> '{}'));
  END IF;
  IF n < lo OR n > hi THEN
    PERFORM app_private.raise_invalid(p_field, format('%s is outside %s..=%s', n, lo, hi));
  END IF;
  RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION app_private.check_type(p_field text, v jsonb, p_type text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = '' AS $$
BEGIN
  IF v IS NOT NULL AND jsonb_typeof(v) <> 'null' AND jsonb_typeof(v) <> p_type THEN
    PERFORM app_private.raise_invalid(p_field, format('must be %s',
      CASE p_type WHEN 'object' THEN 'an object' WHEN 'array' THEN 'an array'
                  WHEN 'boolean' THEN 'true or false' ELSE 'a ' || p_type END));
  END IF;
END
$$;

-- The marketplace_source checks, in resolver/src/config.rs `validate` order.
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
END
$$;

-- The two-argument form used by the stamp trigger and update_app_config: the private-host
-- switch comes from the GUC `sourcegate.allow_private_origins` ('on' allows; default off).
CREATE OR REPLACE FUNCTION app_private.validate_config(p_key text, p_value jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = '' AS $$
BEGIN
  PERFORM app_private.validate_config(p_key, p_value,
    lower(coalesce(current_setting('sourcegate.allow_private_origins', true), '')) IN ('on', 'true', '1', 'yes'));
END
$$;

REVOKE ALL ON FUNCTION app_private.json_integer(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.raise_invalid(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.is_private_host(text, inet) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.check_origin_url(text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.check_number(text, jsonb, numeric, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.check_integer(text, jsonb, numeric, numeric) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.check_type(text, jsonb, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.validate_config(text, jsonb, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION app_private.validate_config(text, jsonb) FROM PUBLIC;
-- Pure functions: update_app_config (SECURITY INVOKER) calls them as the caller.
GRANT EXECUTE ON FUNCTION app_private.json_integer(jsonb), app_private.raise_invalid(text, text),
  app_private.is_private_host(text, inet), app_private.check_origin_url(text, text, boolean),
  app_private.check_number(text, jsonb, numeric, numeric), app_private.check_integer(text, jsonb, numeric, numeric),
  app_private.check_type(text, jsonb, text), app_private.validate_config(text, jsonb, boolean),
  app_private.validate_config(text, jsonb)
  TO authenticated, service_role;

-- ---------------------------------------------------------------------------
-- update_app_config: p_force, no-op refusal, reason limit, SECURITY INVOKER.
-- ---------------------------------------------------------------------------
DROP FUNCTION IF EXISTS public.update_app_config(text, jsonb, text, bigint);
CREATE OR REPLACE FUNCTION public.update_app_config(
  p_key text,
  p_value jsonb,
  p_reason text DEFAULT NULL,
  p_expected_version bigint DEFAULT NULL,
  p_force boolean DEFAULT false
) RETURNS public.app_config
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = '' AS $$
DECLARE
  r public.app_config;
  cur bigint;
  cur_value jsonb;
BEGIN
  IF NOT app_private.is_admin() THEN
    RAISE EXCEPTION 'admin privileges required' USING ERRCODE = '42501';
  END IF;
  IF octet_length(p_reason) > 1024 THEN
    PERFORM app_private.raise_invalid('reason', 'the reason is longer than 1024 bytes');
  END IF;
  PERFORM app_private.validate_config(p_key, p_value);
  SELECT c.version, c.config_value INTO cur, cur_value
    FROM public.app_config c WHERE c.config_key = p_key FOR UPDATE;
  IF p_expected_version IS NOT NULL AND coalesce(cur, 0) <> p_expected_version THEN
    RAISE EXCEPTION 'version conflict: expected %, current %', p_expected_version, coalesce(cur, 0)
      USING ERRCODE = 'PT409', DETAIL = 'current_version=' || coalesce(cur, 0);
  END IF;
  IF cur IS NOT NULL AND NOT coalesce(p_force, false)
     AND (CASE WHEN jsonb_typeof(cur_value) = 'object' THEN cur_value - 'version' ELSE cur_value END)
       = (CASE WHEN jsonb_typeof(p_value) = 'object' THEN p_value - 'version' ELSE p_value END) THEN
    RAISE EXCEPTION 'no change: the document equals version %', cur
      USING ERRCODE = 'PT409', DETAIL = 'no_change',
            HINT = 'pass p_force => true to record it as a new version anyway';
  END IF;
  PERFORM set_config('sourcegate.change_reason', coalesce(p_reason, ''), true);
  IF cur IS NULL THEN
    INSERT INTO public.app_config (config_key, config_value) VALUES (p_key, p_value)
    RETURNING * INTO r;
  ELSE
    UPDATE public.app_config c SET config_value = p_value WHERE c.config_key = p_key
    RETURNING * INTO r;
  END IF;
  PERFORM set_config('sourcegate.change_reason', '', true);
  RETURN r;
END
$$;
COMMENT ON FUNCTION public.update_app_config(text, jsonb, text, bigint, boolean) IS
  'Admin only. Validates and stores a configuration, bumping its version. Raises 42501 (not admin), PT409 (stale p_expected_version: DETAIL current_version=N; unchanged document: DETAIL no_change unless p_force), PT422 (invalid document or p_reason over 1 KiB; COLUMN names the field).';
REVOKE ALL ON FUNCTION public.update_app_config(text, jsonb, text, bigint, boolean) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.update_app_config(text, jsonb, text, bigint, boolean) TO authenticated, service_role;

-- ---------------------------------------------------------------------------
-- History identity sequence: only the SECURITY DEFINER audit trigger draws from it.
-- ---------------------------------------------------------------------------
DO $seq$
DECLARE
  s text := pg_catalog.pg_get_serial_sequence('public.app_config_history', 'id');
BEGIN
  IF s IS NOT NULL THEN
    EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM PUBLIC, anon, authenticated', s);
  END IF;
END
$seq$;
