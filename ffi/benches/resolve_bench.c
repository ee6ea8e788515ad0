/*
 * C side of the ffi_vs_rust bench: times N calls of sg_resolver_resolve from C.
 *   resolve_bench OPTIONS_JSON N   → prints "c_ns_per_call <float>"
 * Built and run by ffi/benches/ffi_vs_rust.rs against the release cdylib.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sourcegate.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  long n = atol(argv[2]);
  sg_resolver *r = NULL;
  if (sg_resolver_new(argv[1], &r) != SG_STATUS_OK) {
    fprintf(stderr, "sg_resolver_new: %s\n", sg_last_error_message());
    return 1;
  }
  char url[512];
  sg_resolution res;
  if (sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res) != SG_STATUS_OK) {
    fprintf(stderr, "sg_resolver_resolve: %s\n", sg_last_error_message());
    return 1;
  }
  double best = 1e300;
  unsigned long sink = 0;
  for (int round = 0; round < 5; round++) {
    double t = now_ns();
    for (long i = 0; i < n; i++) {
      sg_status s = sg_resolver_resolve(r, "community-plugins.json", url, sizeof url, &res);
      sink += s + res.url_len;
    }
    double dt = now_ns() - t;
    if (dt < best) best = dt;
  }
  printf("c_url %s\n", url);
  printf("c_ns_per_call %.3f\n", best / (double)n);
  printf("c_sink %lu\n", sink);
  sg_resolver_free(r);
  return 0;
}
