/*
 * C tests of the lifecycle entry points: sg_resolver_pause, sg_resolver_resume,
 * sg_resolver_wait_ready, sg_resolver_close and the "offline" option. Built and run (also
 * under valgrind when present) by ffi/tests/lifecycle.rs, which starts a counting
 * control-plane stand-in (config version 4 to the first GET, 5 to every later one; telemetry
 * reports kept) and the loopback origins, and passes:
 *
 *   test_lifecycle CONTROL_PLANE_URL CDN_BASE_URL
 *
 * and checks afterwards what the stand-in saw: two config GETs (the first load and the one
 * revalidation on resume, none while paused although every resolve and fetch was past the
 * TTL), one telemetry report (sent by close) counting the two fetches, nothing from the
 * offline resolvers.
 */
#include "check.h"

/* The latest config version a config callback saw. */
static atomic_ullong seen_version = 0;

static void on_config(void *userdata, const sg_config_event *ev) {
  (void)userdata;
  atomic_store(&seen_version, (unsigned long long)ev->version);
}

static void test_pause_resume_close(const char *control_plane) {
  char opts[1024];
  snprintf(opts, sizeof opts,
           "{\"controlPlaneUrl\":\"%s\",\"installId\":\"c-lifecycle\",\"push\":false,"
           "\"healthChecks\":false,\"cacheTtlMs\":10,\"httpCache\":false,"
           "\"telemetry\":{\"enabled\":true,\"intervalMs\":3600000}}",
           control_plane);
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  bool ready = false;
  CHECK_STATUS(sg_resolver_wait_ready(r, 10000, &ready), SG_STATUS_OK);
  CHECK(ready, "no config within 10 s");
  CHECK_STATUS(sg_resolver_wait_ready(r, 0, NULL), SG_STATUS_NULL_PARAMETER);
  uint64_t id = 0;
  CHECK_STATUS(sg_resolver_on_config_change(r, on_config, NULL, &id), SG_STATUS_OK);

  /* Paused at once: 300 ms of resolves, each past the 10 ms TTL, and no config request; the
   * host's own fetches still work (and are counted for telemetry). */
  CHECK_STATUS(sg_resolver_pause(r), SG_STATUS_OK);
  CHECK_STATUS(sg_resolver_pause(r), SG_STATUS_OK);
  char url[512];
  sg_resolution res;
  for (int i = 0; i < 30; i++) {
    sleep_ms(10);
    CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res),
                 SG_STATUS_OK);
  }
  CHECK(res.config_version == 4, "refreshed while paused: version %llu",
        (unsigned long long)res.config_version);
  for (int i = 0; i < 2; i++) {
    sg_fetch_result fr;
    CHECK_STATUS(sg_resolver_fetch(r, "community-plugins.json", &fr), SG_STATUS_OK);
    CHECK(fr.origin == SG_ORIGIN_CDN, "origin %u", (unsigned)fr.origin);
    sg_bytes_free(fr.body, fr.body_len);
  }
  CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res),
               SG_STATUS_OK);
  CHECK(res.config_version == 4, "refreshed while paused: version %llu",
        (unsigned long long)res.config_version);

  /* Resume revalidates at once: the stand-in answers version 5, the callback sees it. */
  CHECK_STATUS(sg_resolver_resume(r), SG_STATUS_OK);
  CHECK_STATUS(sg_resolver_resume(r), SG_STATUS_OK);
  double deadline = now_ms() + 10000;
  while (atomic_load(&seen_version) != 5 && now_ms() < deadline) sleep_ms(5);
  CHECK(atomic_load(&seen_version) == 5, "no revalidation on resume (saw %llu)",
        (unsigned long long)atomic_load(&seen_version));

  /* Close sends the last telemetry report, then fetch and reload are refused. */
  CHECK_STATUS(sg_resolver_close(r), SG_STATUS_OK);
  CHECK_STATUS(sg_resolver_close(r), SG_STATUS_OK);
  sg_fetch_result fr;
  CHECK_STATUS(sg_resolver_fetch(r, "community-plugins.json", &fr), SG_STATUS_CLOSED);
  CHECK(strstr(sg_last_error_message(), "closed") != NULL, "%s", sg_last_error_message());
  uint64_t v = 0;
  CHECK_STATUS(sg_resolver_reload(r, &v), SG_STATUS_CLOSED);
  CHECK_STATUS(sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res),
               SG_STATUS_OK);
  CHECK(res.config_version == 5, "version %llu", (unsigned long long)res.config_version);
  CHECK_STATUS(sg_resolver_pause(r), SG_STATUS_OK);
  CHECK_STATUS(sg_resolver_resume(r), SG_STATUS_OK);
  bool still = false;
  CHECK_STATUS(sg_resolver_wait_ready(r, 0, &still), SG_STATUS_OK);
  CHECK(still, "a closed resolver still holds its config");
  sg_resolver_free(r);
}

static void test_offline(const char *control_plane, const char *cdn) {
  char opts[1024];
  /* A control plane is named, but offline it is never asked: no config, no telemetry. */
  snprintf(opts, sizeof opts,
           "{\"controlPlaneUrl\":\"%s\",\"installId\":\"c-offline\",\"offline\":true,"
           "\"telemetry\":{\"intervalMs\":10}}",
           control_plane);
  sg_resolver *r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  bool ready = true;
  CHECK_STATUS(sg_resolver_wait_ready(r, 200, &ready), SG_STATUS_OK);
  CHECK(!ready, "offline with no cache file and no static config: not ready");
  sg_fetch_result fr;
  CHECK_STATUS(sg_resolver_fetch(r, "community-plugins.json", &fr), SG_STATUS_OFFLINE);
  CHECK(strstr(sg_last_error_message(), "offline") != NULL, "%s", sg_last_error_message());
  sg_resolver_free(r);

  /* Offline with a static document: ready at once; fetch still makes no request. */
  snprintf(opts, sizeof opts,
           "{\"staticConfig\":{\"type\":\"cdn\",\"cdnUrl\":\"%s\",\"gitUrl\":\"%s\","
           "\"version\":9},\"installId\":\"c-offline\",\"offline\":true}",
           cdn, cdn);
  r = NULL;
  CHECK_STATUS(sg_resolver_new(opts, &r), SG_STATUS_OK);
  if (!r) return;
  CHECK_STATUS(sg_resolver_wait_ready(r, 5000, &ready), SG_STATUS_OK);
  CHECK(ready, "a static document is an installed config");
  CHECK_STATUS(sg_resolver_fetch(r, "community-plugins.json", &fr), SG_STATUS_OFFLINE);
  sg_resolver_free(r);
}

static void test_null_handles(void) {
  bool ready = false;
  CHECK_STATUS(sg_resolver_pause(NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_resume(NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_close(NULL), SG_STATUS_NULL_PARAMETER);
  CHECK_STATUS(sg_resolver_wait_ready(NULL, 0, &ready), SG_STATUS_NULL_PARAMETER);
  CHECK(strstr(sg_last_error_message(), "resolver") != NULL, "%s", sg_last_error_message());
  CHECK(strcmp(sg_status_name(SG_STATUS_CLOSED), "SG_STATUS_CLOSED") == 0, "name");
  CHECK(strcmp(sg_status_name(SG_STATUS_OFFLINE), "SG_STATUS_OFFLINE") == 0, "name");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CONTROL_PLANE_URL CDN_URL\n", argv[0]);
    return 2;
  }
  test_null_handles();
  test_pause_resume_close(argv[1]);
  test_offline(argv[1], argv[2]);
  return check_summary();
}
