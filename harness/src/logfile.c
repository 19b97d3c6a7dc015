/* SPDX-License-Identifier: MIT */
/* log_path: a report's text goes to <log_path>.<pid>, as ASan's log_path does, so that the
 * reports of a program that forks, or of many runs, do not mix and stderr stays the
 * program's. The file is opened for each report, with raw system calls (never intercepted,
 * never tracked by fdcheck), so a program that closes every descriptor cannot take it away. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

void lg__report_write_text(const char *text, size_t n) {
  const char *path = lg__opts()->log_path;
  if (!path[0]) {
    lg__write_all(2, text, n);
    return;
  }
  char name[600];
  lg__format(name, sizeof name, "%s.%d", path, (int)getpid());
  int fd = lg__sys_open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    char msg[700];
    size_t len = lg__format(msg, sizeof msg, "lifeguard: warning: cannot open log_path file "
                                             "%s; the report follows on stderr\n", name);
    lg__write_all(2, msg, len < sizeof msg ? len : sizeof msg - 1);
    lg__write_all(2, text, n);
    return;
  }
  lg__write_all(fd, text, n);
  lg__sys_close(fd);
}
