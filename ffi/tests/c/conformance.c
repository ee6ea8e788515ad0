/* The routing conformance suite through the C ABI: reads one sg_route_json input per line
 * of the file named by argv[1], writes one line per input on stdout: the output JSON, or "ERROR <status name>
 * <last error>". The Rust harness (tests/conformance.rs) writes the inputs from
 * test-data/conformance and compares the outputs with the expected values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sourcegate.h"

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  FILE *in = fopen(argv[1], "r");
  if (in == NULL) return 2;
  size_t cap = 1 << 16;
  char *line = malloc(cap);
  if (line == NULL) { fclose(in); return 2; }
  int n = 0;
  while (fgets(line, (int)cap, in) != NULL) {
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] != '\n' && !feof(in)) {
      fprintf(stderr, "input line %d longer than %zu bytes\n", n + 1, cap);
      free(line);
      fclose(in);
      return 2;
    }
    if (len > 0 && line[len - 1] == '\n') line[len - 1] = '\0';
    char *out = NULL;
    sg_status st = sg_route_json(line, &out);
    if (st == SG_STATUS_OK) {
      printf("%s\n", out);
      sg_string_free(out);
    } else {
      printf("ERROR %s %s\n", sg_status_name(st), sg_last_error_message());
    }
    n++;
  }
  free(line);
  fclose(in);
  return 0;
}
