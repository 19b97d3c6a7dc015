// SPDX-License-Identifier: MIT
// A std::condition_variable notified before anyone waits: the waiter checks the flag, then
// waits with wait_for (libstdc++: pthread_cond_clockwait on the steady clock) without a
// predicate. Bug: when the notifier runs between the waiter's check and its wait, the
// notification is lost and the wait times out (assertion). SCT_CLEAN: wait_for with the
// predicate, under the lock that the notifier takes too.
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

std::mutex m;
std::condition_variable cv;
bool ready = false;

int main() {
  std::thread notifier([] {
    {
      std::lock_guard<std::mutex> g(m);
      ready = true;
    }
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lk(m);
#ifdef SCT_CLEAN
  bool ok = cv.wait_for(lk, std::chrono::milliseconds(200), [] { return ready; });
#else
  bool seen = ready;
  lk.unlock();
  std::this_thread::yield();
  lk.lock();
  bool ok = seen || cv.wait_for(lk, std::chrono::milliseconds(200)) == std::cv_status::no_timeout;
#endif
  lk.unlock();
  notifier.join();
  assert(ok);
  return 0;
}
