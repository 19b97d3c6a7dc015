// SPDX-License-Identifier: MIT
// std::shared_mutex and std::condition_variable_any: readers wait (on the shared mutex
// itself, through condition_variable_any) until the writer has started, then check under a
// shared lock that a pair is equal. The writer updates the halves under two exclusive locks:
// a reader between them sees them differ (an assertion).
// SCT_CLEAN: both halves under one exclusive lock.
#include <cassert>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

static std::shared_mutex rw;
static std::condition_variable_any started_cv;
static bool started;
static int a, b;

static void reader() {
  {
    std::unique_lock<std::shared_mutex> l(rw);
    started_cv.wait(l, [] { return started; });
  }
  for (int i = 0; i < 2; i++) {
    std::shared_lock<std::shared_mutex> s(rw);
    assert(a == b);
  }
}

static void writer() {
  {
    std::unique_lock<std::shared_mutex> l(rw);
    started = true;
  }
  started_cv.notify_all();
  for (int i = 1; i <= 2; i++) {
#ifdef SCT_CLEAN
    std::unique_lock<std::shared_mutex> l(rw);
    a = i;
    b = i;
#else
    {
      std::unique_lock<std::shared_mutex> l(rw);
      a = i;
    }
    std::unique_lock<std::shared_mutex> l(rw);
    b = i;
#endif
  }
}

int main() {
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; i++) ts.emplace_back(reader);
  ts.emplace_back(writer);
  for (auto &t : ts) t.join();
  std::printf("%d %d\n", a, b);
  return 0;
}
