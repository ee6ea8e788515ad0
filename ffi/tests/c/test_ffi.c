/*
 * C tests of the Sourcegate C API. Built and run (also under valgrind when present) by
 * ffi/tests/c_api.rs, which starts the loopback origins and passes:
 *
 *   test_ffi GIT_BASE_URL CDN_BASE_URL STALLED_BASE_URL WORK_DIR BUCKET_VECTORS_FILE
 *
 * BUCKET_VECTORS_FILE holds one golden vector per line: "<hex of the install id> <bucket>"
 * (converted from test-data/buckets.json by the Rust test; "-" for the empty id).
 */
#include "check.h"

static const char *git_url, *cdn_url, *stalled_url, *work_dir, *vectors_file;

static void write_file(const char *path, const char *text) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) { perror(tmp); exit(2); }
  fputs(text, f);
  fclose(f);
  rename(tmp, path);
}

static void config_doc(char *buf, size_t n, const char *type, int version) {
  snprintf(buf, n,
           "{\"type\":\"%s\",\"gitUrl\":\"%s\",\"cdnUrl\":\"%s\",\"healthCheckEnabled\":false,"
           "\"fallbackOnError\":true,\"version\":%d}",
           type, git_url, cdn_url, version);
}

/* ---- options and argument errors ---------------------------------------------------- */

static void test_bad_options(void) {
  sg_resolver *sentinel = (sg_resolver *)&checks; /* must stay untouched on failure */
  sg_resolver *r = sentinel;
  CHECK_STATUS(sg_resolver_new("{not json", &r), SG_STATUS_INVALID_OPTIONS);
  CHECK(r == sentinel, "out written on failure");
  CHECK(strstr(sg_last_error_message(), "invalid options JSON") != NULL, "message: %s",
        sg_last_error_message());
  CHECK_STATUS(sg_resolver_new("[1,2]", &r), SG_STATUS_INVALID_OPTIONS);
  CHECK_STATUS(sg_resolver_new("{\"cacheTtlMs\":\"soon\"}", &r), SG_STATUS_INVALID_OPTIONS);
  CHECK_STATUS(sg_resolver_new("{\"defaultGitUrl\":\"not a url\"}", &r), SG_STATUS_INVALID_OPTIONS);
  CHECK(strstr(sg_last_error_message(), "defaultGitUrl") != NULL, "message names the field: %s",
        sg_last_error_message());
  CHECK_STATUS(sg_resolver_new("{\"supabaseUrl\":\"http://127.0.0.1:9\"}", &r),
               SG_STATUS_INVALID_OPTIONS);
  CHECK(r == sentinel, "out written on failure");
  /* Telemetry and backoff: checked values, the message names the field. */
  CHECK_STATUS(sg_resolver_new("{\"telemetry\":{\"endpoint\":\"not a url\"}}", &r),
               SG_STATUS_INVALID_OPTIONS);
  CHECK(strstr(sg_last_error_message(), "telemetry.endpoint") != NULL, "message: %s",
        sg_last_error_message());
  CHECK_STATUS(sg_resolver_new("{\"telemetry\":{\"enabled\":\"off\"}}", &r),
               SG_STATUS_INVALID_OPTIONS);
  CHECK_STATUS(sg_resolver_new("{\"backoffBaseMs\":0}", &r), SG_STATUS_INVALID_OPTIONS);
  CHECK(strstr(sg_last_error_message(), "backoffBaseMs") != NULL, "message: %s",
        sg_last_error_message());
  CHECK_STATUS(sg_resolver_new("{\"backoffBaseMs\":2000,\"backoffCapMs\":1000}", &r),
               SG_STATUS_INVALID_OPTIONS);
  CHECK(r == sentinel, "out written on failure");
  r = NULL;
  CHECK_STATUS(sg_resolver_new("{\"telemetry\":{\"enabled\":false},\"backoffBaseMs\":100,"
                               "\"backoffCapMs\":5000,\"installId\":\"i\"}",
                               &r),
               SG_STATUS_OK);
  sg_resolver_free(r);
  r = sentinel;
  /* A later success clears the message. */
  uint32_t b = 0;
  CHECK_STATUS(sg_bucket_of("x", &b), SG_STATUS_OK);
  CHECK(strcmp(sg_last_error_message(), "") == 0, "message not cleared: %s",
        sg_last_error_message());
  /* Unknown fields are refused, naming the field (a typo must not pass silently), and so is
   * JSON that is not an object. */
  r = sentinel;
  CHECK_STATUS(sg_resolver_new("{\"someFutureOption\":{\"a\":1},\"installId\":\"i\"}", &r),
               SG_STATUS_INVALID_OPTIONS);
  CHECK(strstr(sg_last_error_message(), "unknown field `someFutureOption`") != NULL, "%s",
        sg_last_error_message());
  CHECK_STATUS(sg_resolver_new("{\"telemetry\":{\"enable\":false}}", &r),
               SG_STATUS_INVALID_OPTIONS);
  CHECK(strstr(sg_last_error_message(), "telemetry: unknown field `enable`") != NULL, "%s",
        sg_last_error_message());
  CHECK_STATUS(sg_resolver_new("[]", &r), SG_STATUS_INVALID_OPTIONS);
  CHECK(strstr(sg_last_error_message(), "expected a JSON object") != NULL, "%s",
        sg_last_error_message());
  CHECK(r == sentinel, "out written on failure");
  r = NULL;
}

static void test_null_pointers(void) {
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(NULL, &r), SG_STATUS_NULL_PARAMETER);
  CHECK(strstr(sg_last_error_message(), "options_json") != NULL, "%s", sg_last_error_message());
  CHECK_STATUS(sg_resolver_new("{}", NULL), SG_STATUS_NULL_PARAMETER);
  char buf[256];
  sg_resolution res;
  sg_fetch_result fr;
  char *s = NULL;
  uint64_t v = 0;
  CHECK_STATUS(sg_resolver_resolve(NULL, "a", buf, sizeof buf, &res), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_fetch(NULL, "a", &fr), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_fetch_async(NULL, "a", NULL, NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_reload(NULL, &v), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_reload_async(NULL, NULL, NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_report_outcome(NULL, SG_ORIGIN_GIT, 200, 0, 1, false),
               SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_stats_json(NULL, &s), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_on_config_change(NULL, NULL, NULL, NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_remove_config_callback(NULL, 1), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_bucket_of(NULL, NULL), SG_STATUS_NULL_PARAMETER);
  sg_resolver_free(NULL);
  sg_string_free(NULL);
  sg_bytes_free(NULL, 0);

  CHECK_STATUS(sg_resolver_new("{\"installId\":\"n\"}", &r), SG_STATUS_OK);
  CHECK_STATUS(sg_resolver_resolve(r, NULL, buf, sizeof buf, &res), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_resolve(r, "a", NULL, 0, &res), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_resolve(r, "a", buf, sizeof buf, NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_fetch(r, NULL, &fr), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_fetch(r, "a", NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_fetch_async(r, "a", NULL, NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_stats_json(r, NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_on_config_change(r, NULL, NULL, NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_remove_config_callback(r, 12345), SG_STATUS_NOT_FOUND);
  /* Invalid UTF-8 and bad enum values. */
  CHECK_STATUS(sg_resolver_resolve(r, "\xff\xfe", buf, sizeof buf, &res), SG_STATUS_INVALID_UTF8);
  CHECK_STATUS(sg_resolver_new("{\"installId\":\"\xc3\x28\"}", &r), SG_STATUS_INVALID_UTF8);
  CHECK_STATUS(sg_resolver_report_outcome(r, 7, 200, 0, 1, false), SG_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(sg_resolver_report_outcome(r, SG_ORIGIN_GIT, 1000, 0, 1, false),
               SG_STATUS_INVALID_ARGUMENT);
  CHECK(strcmp(sg_status_name(SG_STATUS_INVALID_UTF8), "SG_STATUS_INVALID_UTF8") == 0, "name");
  CHECK(strcmp(sg_status_name(9999), "SG_STATUS_UNKNOWN") == 0, "unknown name");
  sg_resolver_free(r);
}

/* ---- golden bucket vectors ------------------------------------------------------------ */

static void test_bucket_vectors(void) {
  FILE *f = fopen(vectors_file, "r");
  CHECK(f != NULL, "cannot open %s", vectors_file);
  if (!f) return;
  char hex[1024];
  unsigned want;
  int n = 0;
  while (fscanf(f, "%1023s %u", hex, &want) == 2) {
    char id[512] = {0};
    if (strcmp(hex, "-") != 0) {
      size_t len = strlen(hex) / 2;
      for (size_t i = 0; i < len && i < sizeof id - 1; i++) {
        unsigned byte;
        sscanf(hex + 2 * i, "%2x", &byte);
        id[i] = (char)byte;
      }
    }
    uint32_t got = 99999;
    CHECK_STATUS(sg_bucket_of(id, &got), SG_STATUS_OK);
    CHECK(got == want, "bucket of \"%s\": got %u want %u", id, got, want);
    n++;
  }
  fclose(f);
  CHECK(n >= 10, "only %d vectors read", n);
  printf("bucket vectors: %d checked\n", n);
}

/* ---- resolve, fetch, report, stats -------------------------------------------------- */

static void test_resolve_fetch_report(void) {
  char opts[2048], doc[1024];
  config_doc(doc, sizeof doc, "cdn", 1);
  snprintf(opts, sizeof opts,
           "{\"staticConfig\":%s,\"installId\":\"install-0001\",\"healthChecks\":false,"
           "\"requestTimeoutMs\":5000}",
           doc);
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;

  char url[512];
  sg_resolution res;
  CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res),
               SG_STATUS_OK);
  char want[600];
  snprintf(want, sizeof want, "%scommunity-plugins.json", cdn_url);
  CHECK(strcmp(url, want) == 0, "url %s want %s", url, want);
  CHECK(res.url_len == strlen(want), "url_len %zu", res.url_len);
  CHECK(res.origin == SG_ORIGIN_CDN, "origin %s", sg_origin_name(res.origin));
  CHECK(res.reason == SG_REASON_MODE, "reason %s", sg_reason_name(res.reason));
  CHECK(res.config_version == 1, "version %llu", (unsigned long long)res.config_version);

  /* Too small a buffer: only url_len is written, the buffer is untouched. */
  char small[8] = "xxxxxxx";
  sg_resolution res2 = {0};
  CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", small, sizeof small, &res2),
               SG_STATUS_BUFFER_TOO_SMALL);
  CHECK(res2.url_len == strlen(want), "needed length %zu", res2.url_len);
  CHECK(strcmp(small, "xxxxxxx") == 0, "buffer touched");
  CHECK_STATUS(sg_resolver_resolve(r, "../escape", url, sizeof url, &res2), SG_STATUS_INVALID_PATH);
  CHECK_STATUS(sg_resolver_resolve(r, "https://evil.example/x", url, sizeof url, &res2),
               SG_STATUS_INVALID_PATH);

  /* Blocking fetch. */
  sg_fetch_result fr;
  CHECK_STATUS(sg_resolver_fetch(r, "community-plugins.json", &fr), SG_STATUS_OK);
  CHECK(fr.body_len > 1000 && fr.body && fr.body[0] == '[', "body of %zu bytes", fr.body_len);
  CHECK(fr.origin == SG_ORIGIN_CDN && fr.http_status == 200 && !fr.fallback, "origin %s status %u",
        sg_origin_name(fr.origin), fr.http_status);
  size_t body_len = fr.body_len;
  sg_bytes_free(fr.body, fr.body_len);

  sg_fetch_result missing;
  CHECK_STATUS(sg_resolver_fetch(r, "no-such-file.json", &missing), SG_STATUS_ALL_ORIGINS_FAILED);
  CHECK(strstr(sg_last_error_message(), "404") != NULL, "%s", sg_last_error_message());

  /* The host's own request was rate-limited by the CDN: the route fails over to Git. */
  CHECK_STATUS(sg_resolver_report_outcome(r, SG_ORIGIN_CDN, 429, 60000, 12, false), SG_STATUS_OK);
  CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res),
               SG_STATUS_OK);
  CHECK(res.origin == SG_ORIGIN_GIT && res.reason == SG_REASON_FAILOVER, "origin %s reason %s",
        sg_origin_name(res.origin), sg_reason_name(res.reason));
  CHECK(res.failover_from == SG_ORIGIN_CDN && res.unavailable == SG_UNAVAILABLE_RATE_LIMITED,
        "from %u cause %u", res.failover_from, res.unavailable);
  CHECK_STATUS(sg_resolver_report_outcome(r, SG_ORIGIN_GIT, 0, 0, 30000, true), SG_STATUS_OK);

  char *stats = NULL;
  CHECK_STATUS(sg_resolver_stats_json(r, &stats), SG_STATUS_OK);
  CHECK(stats && strstr(stats, "\"totalRequests\":4") != NULL, "stats %s", stats);
  CHECK(stats && strstr(stats, "\"rateLimited\":1") != NULL, "stats %s", stats);
  CHECK(stats && strstr(stats, "\"installId\":\"install-0001\"") != NULL, "stats %s", stats);
  CHECK(stats && strstr(stats, "\"version\":1") != NULL, "stats %s", stats);
  sg_string_free(stats);
  printf("resolve/fetch/report: %zu-byte body\n", body_len);
  sg_resolver_free(r);
}

/* ---- non-blocking fetch ----------------------------------------------------------------- */

struct fetch_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls;
  sg_status status;
  size_t body_len;
  sg_origin origin;
  char first;
  char message[256];
};

static void on_fetch(void *userdata, sg_status status, const sg_fetch_result *result,
                     const char *message) {
  struct fetch_wait *w = userdata;
  pthread_mutex_lock(&w->mu);
  w->calls++;
  w->status = status;
  if (result) {
    w->body_len = result->body_len;
    w->origin = result->origin;
    w->first = result->body_len ? (char)result->body[0] : 0;
  }
  if (message) snprintf(w->message, sizeof w->message, "%s", message);
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static int wait_calls(struct fetch_wait *w, int n, int timeout_ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  pthread_mutex_lock(&w->mu);
  while (w->calls < n) {
    if (pthread_cond_timedwait(&w->cv, &w->mu, &deadline) != 0) break;
  }
  int got = w->calls;
  pthread_mutex_unlock(&w->mu);
  return got;
}

static void test_fetch_async_and_cancel(void) {
  char opts[2048], doc[1024];
  config_doc(doc, sizeof doc, "git", 1);
  snprintf(opts, sizeof opts, "{\"staticConfig\":%s,\"healthChecks\":false}", doc);
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  struct fetch_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, ""};
  CHECK_STATUS(sg_resolver_fetch_async(r, "community-plugins.json", on_fetch, &w), SG_STATUS_OK);
  CHECK(wait_calls(&w, 1, 30000) == 1, "callback calls %d", w.calls);
  CHECK(w.status == SG_STATUS_OK && w.body_len > 1000 && w.first == '[' &&
            w.origin == SG_ORIGIN_GIT,
        "status %s len %zu origin %u", sg_status_name(w.status), w.body_len, w.origin);
  sg_resolver_free(r);
  CHECK(w.calls == 1, "callback called %d times", w.calls);

  /* A fetch in flight on a stalled origin is cancelled by sg_resolver_free: the callback runs
   * exactly once, with SG_STATUS_CANCELLED, before sg_resolver_free returns. */
  snprintf(opts, sizeof opts,
           "{\"staticConfig\":{\"type\":\"cdn\",\"cdnUrl\":\"%s\",\"healthCheckEnabled\":false},"
           "\"healthChecks\":false,\"requestTimeoutMs\":60000}",
           stalled_url);
  r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  struct fetch_wait c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, ""};
  CHECK_STATUS(sg_resolver_fetch_async(r, "community-plugins.json", on_fetch, &c), SG_STATUS_OK);
  sleep_ms(300);
  CHECK(c.calls == 0, "stalled fetch completed?");
  sg_resolver_free(r);
  CHECK(c.calls == 1 && c.status == SG_STATUS_CANCELLED, "calls %d status %s", c.calls,
        sg_status_name(c.status));
  CHECK(strstr(c.message, "freed") != NULL, "message %s", c.message);
}

/* ---- non-blocking reload ------------------------------------------------------------------ */

static void on_done(void *userdata, sg_status status, const char *message) {
  struct fetch_wait *w = userdata;
  pthread_mutex_lock(&w->mu);
  w->calls++;
  w->status = status;
  w->first = message != NULL;
  if (message) snprintf(w->message, sizeof w->message, "%s", message);
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void test_reload_async_and_cancel(void) {
  char opts[2048], doc[1024], path[1024];
  /* Success: the callback runs once, with SG_STATUS_OK and no message. */
  snprintf(path, sizeof path, "%s/reload-async.json", work_dir);
  config_doc(doc, sizeof doc, "git", 1);
  write_file(path, doc);
  snprintf(opts, sizeof opts,
           "{\"staticConfigFile\":\"%s\",\"healthChecks\":false,\"push\":false}", path);
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  struct fetch_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, ""};
  CHECK_STATUS(sg_resolver_reload_async(r, on_done, &w), SG_STATUS_OK);
  CHECK(wait_calls(&w, 1, 30000) == 1, "callback calls %d", w.calls);
  CHECK(w.status == SG_STATUS_OK && !w.first, "status %s message %s", sg_status_name(w.status),
        w.message);
  /* Failure: an invalid document, reported once with its status and a message. */
  write_file(path, "{\"type\":\"canary\",\"gitUrl\":\"ftp://x/\",\"version\":9}");
  struct fetch_wait f = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, ""};
  CHECK_STATUS(sg_resolver_reload_async(r, on_done, &f), SG_STATUS_OK);
  CHECK(wait_calls(&f, 1, 30000) == 1, "callback calls %d", f.calls);
  CHECK(f.status == SG_STATUS_CONFIG_INVALID && f.first, "status %s",
        sg_status_name(f.status));
  sg_resolver_free(r);
  CHECK(w.calls == 1 && f.calls == 1, "callbacks called %d and %d times", w.calls, f.calls);

  /* A reload in flight against a stalled control plane is cancelled by sg_resolver_free: the
   * callback runs exactly once, with SG_STATUS_CANCELLED, before sg_resolver_free returns. */
  snprintf(opts, sizeof opts,
           "{\"controlPlaneUrl\":\"%s\",\"push\":false,\"healthChecks\":false,"
           "\"telemetry\":{\"enabled\":false},\"installId\":\"reload-cancel\"}",
           stalled_url);
  r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  struct fetch_wait c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, ""};
  CHECK_STATUS(sg_resolver_reload_async(r, on_done, &c), SG_STATUS_OK);
  sleep_ms(300);
  CHECK(c.calls == 0, "stalled reload completed? status %s", sg_status_name(c.status));
  sg_resolver_free(r);
  CHECK(c.calls == 1 && c.status == SG_STATUS_CANCELLED, "calls %d status %s", c.calls,
        sg_status_name(c.status));
  CHECK(strstr(c.message, "freed before the reload") != NULL, "message %s", c.message);
  /* A NULL callback is accepted (nothing to call). */
  r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  CHECK_STATUS(sg_resolver_reload_async(r, (sg_done_callback)NULL, NULL), SG_STATUS_OK);
  sg_resolver_free(r);
  printf("reload async: exactly once (ok, error, cancelled)\n");
}

/* ---- config change callback on a config flip ------------------------------------------- */

struct config_events {
  pthread_mutex_t mu;
  int calls;
  uint64_t version;
  sg_mode mode;
  int json_has_cdn;
  sg_status reload_inside;
  sg_resolver *resolver;
  pthread_t caller;
};

static void on_config(void *userdata, const sg_config_event *ev) {
  struct config_events *e = userdata;
  /* A blocking call from a Sourcegate thread fails instead of deadlocking. */
  uint64_t v;
  sg_status st = sg_resolver_reload(e->resolver, &v);
  pthread_mutex_lock(&e->mu);
  e->calls++;
  e->version = ev->version;
  e->mode = ev->mode;
  e->json_has_cdn = ev->json && strlen(ev->json) == ev->json_len && strstr(ev->json, cdn_url) != NULL;
  e->reload_inside = st;
  e->caller = pthread_self();
  pthread_mutex_unlock(&e->mu);
}

static int config_calls(struct config_events *e) {
  pthread_mutex_lock(&e->mu);
  int n = e->calls;
  pthread_mutex_unlock(&e->mu);
  return n;
}

static void test_config_flip(void) {
  char path[1024], doc[1024], opts[2048];
  snprintf(path, sizeof path, "%s/flip-config.json", work_dir);
  config_doc(doc, sizeof doc, "git", 1);
  write_file(path, doc);
  snprintf(opts, sizeof opts,
           "{\"staticConfigFile\":\"%s\",\"healthChecks\":false,\"push\":false,"
           "\"installId\":\"flip\"}",
           path);
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  char url[512];
  sg_resolution res;
  CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res),
               SG_STATUS_OK);
  CHECK(res.origin == SG_ORIGIN_GIT && res.config_version == 1, "origin %s v%llu",
        sg_origin_name(res.origin), (unsigned long long)res.config_version);

  struct config_events e = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, SG_STATUS_OK, r, 0};
  uint64_t id = 0;
  CHECK_STATUS(sg_resolver_on_config_change(r, on_config, &e, &id), SG_STATUS_OK);
  CHECK(id != 0, "subscription id");

  /* Flip Git → CDN. */
  config_doc(doc, sizeof doc, "cdn", 2);
  write_file(path, doc);
  uint64_t version = 0;
  CHECK_STATUS(sg_resolver_reload(r, &version), SG_STATUS_OK);
  CHECK(version == 2, "reloaded version %llu", (unsigned long long)version);
  for (int i = 0; i < 200 && config_calls(&e) < 1; i++) sleep_ms(25);
  pthread_mutex_lock(&e.mu);
  CHECK(e.calls == 1, "config callback calls %d", e.calls);
  CHECK(e.version == 2 && e.mode == SG_MODE_CDN && e.json_has_cdn, "event v%llu mode %u json %d",
        (unsigned long long)e.version, e.mode, e.json_has_cdn);
  CHECK(e.reload_inside == SG_STATUS_WRONG_THREAD, "reload inside callback: %s",
        sg_status_name(e.reload_inside));
  CHECK(e.calls == 0 || !pthread_equal(e.caller, pthread_self()), "callback on the host thread");
  pthread_mutex_unlock(&e.mu);
  CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res),
               SG_STATUS_OK);
  CHECK(res.origin == SG_ORIGIN_CDN && res.config_version == 2, "after flip: %s v%llu",
        sg_origin_name(res.origin), (unsigned long long)res.config_version);

  /* Refused documents: older version, invalid document. No callback, config unchanged. */
  config_doc(doc, sizeof doc, "git", 1);
  write_file(path, doc);
  CHECK_STATUS(sg_resolver_reload(r, &version), SG_STATUS_CONFIG_STALE);
  write_file(path, "{\"type\":\"canary\",\"gitUrl\":\"ftp://x/\",\"version\":9}");
  CHECK_STATUS(sg_resolver_reload(r, &version), SG_STATUS_CONFIG_INVALID);
  CHECK(version == 2, "version written on failure");

  /* Non-blocking reload, then removal: no call after removal. */
  struct fetch_wait done = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, ""};
  config_doc(doc, sizeof doc, "hybrid", 3);
  write_file(path, doc);
  CHECK_STATUS(sg_resolver_reload_async(r, (sg_done_callback)NULL, NULL), SG_STATUS_OK);
  for (int i = 0; i < 200 && config_calls(&e) < 2; i++) sleep_ms(25);
  CHECK(config_calls(&e) == 2 && e.mode == SG_MODE_HYBRID, "calls %d mode %u", e.calls, e.mode);
  (void)done;
  CHECK_STATUS(sg_resolver_remove_config_callback(r, id), SG_STATUS_OK);
  CHECK_STATUS(sg_resolver_remove_config_callback(r, id), SG_STATUS_NOT_FOUND);
  config_doc(doc, sizeof doc, "git", 4);
  write_file(path, doc);
  CHECK_STATUS(sg_resolver_reload(r, &version), SG_STATUS_OK);
  CHECK(version == 4, "version %llu", (unsigned long long)version);
  sleep_ms(200);
  CHECK(config_calls(&e) == 2, "callback called after removal: %d", config_calls(&e));
  sg_resolver_free(r);
  printf("config flip: %d callbacks\n", e.calls);
}

/* ---- 8 threads at once -------------------------------------------------------------------- */

#define THREADS 8
#define RESOLVES 500

struct worker {
  sg_resolver *r;
  int index;
  int errors;
  size_t body_len;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  char url[512];
  sg_resolution res;
  for (int i = 0; i < RESOLVES; i++) {
    if (sg_resolver_resolve(w->r, "community-plugins.json", url, sizeof url, &res) != SG_STATUS_OK)
      w->errors++;
    else if (res.origin != SG_ORIGIN_CDN && res.origin != SG_ORIGIN_GIT)
      w->errors++;
    if (i % 100 == 0) {
      if (sg_resolver_report_outcome(w->r, SG_ORIGIN_GIT, 200, 0, 5, false) != SG_STATUS_OK)
        w->errors++;
      char *s = NULL;
      if (sg_resolver_stats_json(w->r, &s) != SG_STATUS_OK) w->errors++;
      sg_string_free(s);
    }
  }
  sg_fetch_result fr;
  if (sg_resolver_fetch(w->r, "community-plugins.json", &fr) == SG_STATUS_OK) {
    w->body_len = fr.body_len;
    sg_bytes_free(fr.body, fr.body_len);
  } else {
    w->errors++;
  }
  /* Errors are per thread: a failing call here must not show in another thread's message. */
  if (sg_resolver_resolve(w->r, "..", url, sizeof url, &res) != SG_STATUS_INVALID_PATH) w->errors++;
  if (strstr(sg_last_error_message(), "dot segments") == NULL) w->errors++;
  if (w->index % 2 == 0) {
    uint64_t v;
    if (sg_resolver_reload(w->r, &v) != SG_STATUS_OK) w->errors++;
  }
  return NULL;
}

static void test_threads(void) {
  char opts[2048], doc[1024];
  snprintf(doc, sizeof doc,
           "{\"type\":\"canary\",\"canaryPercent\":50,\"gitUrl\":\"%s\",\"cdnUrl\":\"%s\","
           "\"healthCheckEnabled\":false,\"version\":1}",
           git_url, cdn_url);
  snprintf(opts, sizeof opts, "{\"staticConfig\":%s,\"healthChecks\":false}", doc);
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  pthread_t t[THREADS];
  struct worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (struct worker){r, i, 0, 0};
    pthread_create(&t[i], NULL, worker_main, &w[i]);
  }
  int errors = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    errors += w[i].errors;
    CHECK(w[i].body_len == w[0].body_len && w[i].body_len > 1000, "thread %d body %zu", i,
          w[i].body_len);
  }
  CHECK(errors == 0, "%d errors across threads", errors);
  char *stats = NULL;
  CHECK_STATUS(sg_resolver_stats_json(r, &stats), SG_STATUS_OK);
  /* 8 fetches + 8 × 5 reported outcomes. */
  CHECK(stats && strstr(stats, "\"totalRequests\":48") != NULL, "stats %s", stats);
  sg_string_free(stats);
  sg_resolver_free(r);
  printf("threads: %d threads x %d resolves\n", THREADS, RESOLVES);
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s GIT_URL CDN_URL STALLED_URL WORK_DIR VECTORS_FILE\n", argv[0]);
    return 2;
  }
  git_url = argv[1];
  cdn_url = argv[2];
  stalled_url = argv[3];
  work_dir = argv[4];
  vectors_file = argv[5];
  printf("sourcegate %s\n", sg_version());
  test_bad_options();
  test_null_pointers();
  test_bucket_vectors();
  test_resolve_fetch_report();
  test_fetch_async_and_cancel();
  test_reload_async_and_cancel();
  test_config_flip();
  test_threads();
  return check_summary();
}
