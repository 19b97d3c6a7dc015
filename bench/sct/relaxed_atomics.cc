// SPDX-License-Identifier: MIT
// A std::atomic<int> counter with relaxed order, incremented as a load and a store instead
// of one read-modify-write: two threads can both load the same value and an increment is
// lost (an assertion). No thread call lies in the window: only a build whose atomics are
// scheduling points (lifeguard c++) can be stopped there.
// SCT_CLEAN: fetch_add (relaxed).
#include <atomic>
#include <cassert>
#include <cstdio>
#include <thread>

static std::atomic<int> counter{0};
static std::atomic<int> finished{0};

static void bump() {
  for (int i = 0; i < 2; i++) {
#ifdef SCT_CLEAN
    counter.fetch_add(1, std::memory_order_relaxed);
#else
    int v = counter.load(std::memory_order_relaxed);
    counter.store(v + 1, std::memory_order_relaxed);
#endif
  }
  finished.fetch_add(1, std::memory_order_release);
}

int main() {
  std::thread t1(bump), t2(bump);
  t1.join();
  t2.join();
  assert(finished.load(std::memory_order_acquire) == 2);
  assert(counter.load(std::memory_order_relaxed) == 4);
  std::printf("ok\n");
  return 0;
}
