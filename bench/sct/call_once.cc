// SPDX-License-Identifier: MIT
// std::call_once initialises a shared table; a thread that finds the table's pointer set
// skips call_once and uses it. The initialiser publishes the pointer (under the lock) before
// it fills the table (under the lock again): a thread that skips call_once in between reads
// an empty table (an assertion).
// SCT_CLEAN: the table is filled before its pointer is published.
#include <cassert>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

struct Table {
  int size = 0;
};

static std::once_flag once;
static std::mutex lock;
static Table *table;

static void init() {
  Table *t = new Table;
#ifdef SCT_CLEAN
  t->size = 8;
  std::lock_guard<std::mutex> g(lock);
  table = t;
#else
  {
    std::lock_guard<std::mutex> g(lock);
    table = t;
  }
  std::lock_guard<std::mutex> g(lock);
  t->size = 8;
#endif
}

static void use() {
  Table *t;
  {
    std::lock_guard<std::mutex> g(lock);
    t = table;
  }
  if (!t) std::call_once(once, init);
  std::lock_guard<std::mutex> g(lock);
  assert(table->size == 8);
}

int main() {
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; i++) ts.emplace_back(use);
  for (auto &t : ts) t.join();
  delete table;
  std::printf("ok\n");
  return 0;
}
