// SPDX-License-Identifier: MIT
// A spin lock on std::atomic<bool> written as test-then-set (a load, then a separate store)
// instead of one exchange: two threads can both see it free and both enter. Each critical
// section checks that it is alone (assertion). No pthread call anywhere in the window: the
// atomics must be scheduling points (lifeguard c++). SCT_CLEAN: exchange.
#include <atomic>
#include <cassert>
#include <thread>

std::atomic<bool> busy{false};
std::atomic<int> inside{0};
int counter;

void lock() {
  for (;;) {
#ifdef SCT_CLEAN
    if (!busy.exchange(true, std::memory_order_acquire)) return;
#else
    if (!busy.load(std::memory_order_relaxed)) {
      busy.store(true, std::memory_order_relaxed);
      return;
    }
#endif
    std::this_thread::yield();
  }
}

void unlock() { busy.store(false, std::memory_order_release); }

void work() {
  for (int i = 0; i < 3; i++) {
    lock();
    assert(inside.fetch_add(1) == 0);
    counter++;
    inside.fetch_sub(1);
    unlock();
  }
}

int main() {
  std::thread a(work), b(work);
  a.join();
  b.join();
  assert(counter == 6);
  return 0;
}
