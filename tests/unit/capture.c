/* SPDX-License-Identifier: MIT */
#include "capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

captured capture_log[CAPTURE_MAX];
int capture_count;

static void record(const lg_report_view *v, void *arg) {
  if (capture_count >= CAPTURE_MAX) return;
  captured *c = &capture_log[capture_count++];
  const lg_report *r = v->report;
  snprintf(c->kind, sizeof c->kind, "%s", r->kind);
  snprintf(c->headline, sizeof c->headline, "%s", r->headline);
  c->fd = r->fd;
  c->nstacks = r->nstacks;
  for (size_t i = 0; i < r->nstacks; i++) {
    snprintf(c->stack_names[i], sizeof c->stack_names[i], "%s", r->stacks[i].name);
    c->tids[i] = r->stacks[i].tid;
    if (v->nframes[i] > 0) {
      snprintf(c->top_function[i], sizeof c->top_function[i], "%s", v->frames[i][0].function);
      snprintf(c->top_file[i], sizeof c->top_file[i], "%s", v->frames[i][0].file);
      c->top_line[i] = v->frames[i][0].line;
    }
  }
}

void capture_setup(void) {
  memset(capture_log, 0, sizeof capture_log);
  capture_count = 0;
  cr_assert_eq(lg_options_set("halt_on_error=0"), 0);
  lg_report_set_hook(record, NULL);
}

const char *capture_top(int i, const char *name) {
  for (size_t s = 0; s < capture_log[i].nstacks; s++)
    if (strcmp(capture_log[i].stack_names[s], name) == 0) return capture_log[i].top_function[s];
  return "";
}

void capture_json_start(char path[32]) {
  snprintf(path, 32, "/tmp/lifeguard-json-XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  char opt[64];
  snprintf(opt, sizeof opt, "log_json=%s", path);
  cr_assert_eq(lg_options_set(opt), 0);
}

void capture_json_first_line(const char *path, char *buf, size_t cap) {
  FILE *in = fopen(path, "r");
  cr_assert_not_null(in);
  buf[0] = '\0';
  cr_assert_not_null(fgets(buf, (int)cap, in), "no report in %s", path);
  fclose(in);
  unlink(path);
}
