/*
 * What the C test programs share: the CHECK / CHECK_STATUS assertions (each failure printed
 * with its file, line and sg_last_error_message(), counted, never aborting), sleep_ms and
 * now_ms, and check_summary() for main's exit status. Include it first: it sets
 * _POSIX_C_SOURCE for nanosleep and clock_gettime.
 */
#ifndef SOURCEGATE_TEST_CHECK_H
#define SOURCEGATE_TEST_CHECK_H

#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sourcegate.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    checks++;                                                                   \
    if (!(cond)) {                                                              \
      failures++;                                                               \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
      fprintf(stderr, __VA_ARGS__);                                             \
      fprintf(stderr, " (last error: %s)\n", sg_last_error_message());          \
    }                                                                           \
  } while (0)

#define CHECK_STATUS(expr, want)                                                \
  do {                                                                          \
    sg_status got_ = (expr);                                                    \
    CHECK(got_ == (want), "%s returned %s, want %s", #expr,                     \
          sg_status_name(got_), sg_status_name(want));                          \
  } while (0)

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A monotonic clock, milliseconds. */
static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Prints the counts; main's exit status: 0 when every check held, 1 otherwise. */
static inline int check_summary(void) {
  printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}

#endif
