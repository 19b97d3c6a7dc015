// SPDX-License-Identifier: MIT
// std::async, std::promise and std::future: a worker fulfils its promise before it stores
// the data the promise stands for, so the thread that waited on the future can read the data
// not yet there (an assertion). A second task runs through std::async and its result is
// checked (a future made by std::async, waited on with get()).
// SCT_CLEAN: the data is stored before the promise is fulfilled.
#include <cassert>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>

static std::mutex lock;
static int data;

static void produce(std::promise<void> ready) {
#ifdef SCT_CLEAN
  {
    std::lock_guard<std::mutex> g(lock);
    data = 42;
  }
  ready.set_value();
#else
  ready.set_value();
  std::lock_guard<std::mutex> g(lock);
  data = 42;
#endif
}

int main() {
  std::promise<void> ready;
  std::future<void> done = ready.get_future();
  std::thread producer(produce, std::move(ready));
  std::future<int> square = std::async(std::launch::async, [] { return 7 * 7; });
  done.wait();
  {
    std::lock_guard<std::mutex> g(lock);
    assert(data == 42);
  }
  assert(square.get() == 49);
  producer.join();
  std::printf("ok\n");
  return 0;
}
