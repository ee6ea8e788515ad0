/*
 * Sourcegate from C: resolve a registry path to a URL, fetch it, print the stats.
 *
 *   sourcegate-example [OPTIONS_JSON] [PATH]
 *
 * OPTIONS_JSON defaults to {"controlPlaneUrl": "$SOURCEGATE_URL"} (SOURCEGATE_URL defaults to
 * http://127.0.0.1:8080, a running control plane); PATH to community-plugins.json.
 * Build and run with examples/c/run.sh. Exit status 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sourcegate.h"

static int fail(const char *what, sg_status st) {
  fprintf(stderr, "%s failed: %s: %s\n", what, sg_status_name(st), sg_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  char default_options[1024];
  const char *cp = getenv("SOURCEGATE_URL");
  snprintf(default_options, sizeof default_options,
           "{\"controlPlaneUrl\":\"%s\",\"installIdFile\":\".sourcegate-install-id\"}",
           cp ? cp : "http://127.0.0.1:8080");
  const char *options = argc > 1 ? argv[1] : default_options;
  const char *path = argc > 2 ? argv[2] : "community-plugins.json";

  sg_resolver *r = NULL;
  sg_status st = sg_resolver_new(options, &r);
  if (st != SG_STATUS_OK) return fail("sg_resolver_new", st);

  /* Resolve: waits once for the first config (at most initTimeoutMs), then never blocks. */
  char url[2048];
  sg_resolution res;
  st = sg_resolver_resolve(r, path, url, sizeof url, &res);
  if (st != SG_STATUS_OK) {
    sg_resolver_free(r);
    return fail("sg_resolver_resolve", st);
  }
  printf("resolve %s -> %s origin=%s reason=%s config version %llu\n", path, url,
         sg_origin_name(res.origin), sg_reason_name(res.reason),
         (unsigned long long)res.config_version);

  /* Fetch (blocking), with failover. The body is ours: release it with sg_bytes_free. */
  sg_fetch_result fr;
  st = sg_resolver_fetch(r, path, &fr);
  if (st != SG_STATUS_OK) {
    sg_resolver_free(r);
    return fail("sg_resolver_fetch", st);
  }
  printf("fetch %s: %zu bytes from origin=%s status=%u fallback=%s\n", path, fr.body_len,
         sg_origin_name(fr.origin), fr.http_status, fr.fallback ? "yes" : "no");
  sg_bytes_free(fr.body, fr.body_len);

  char *stats = NULL;
  st = sg_resolver_stats_json(r, &stats);
  if (st != SG_STATUS_OK) {
    sg_resolver_free(r);
    return fail("sg_resolver_stats_json", st);
  }
  printf("stats %s\n", stats);
  sg_string_free(stats);
  sg_resolver_free(r);
  return 0;
}
