// SPDX-License-Identifier: MIT
// Built by tests/driver/test_explore_access.py with `lifeguard c++`: the atomics of a program
// compiled with lifeguard's __tsan_* callbacks stay atomic (threads run free, truly in
// parallel, and no update is lost), virtual calls and C++ threads work, and the output is the
// same with and without explore. Prints one line per check; exits 1 when one fails.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

static constexpr int kThreads = 2;
static constexpr int kRounds = 20000;

struct Shape {
  virtual ~Shape() = default;
  virtual long area() const = 0;
};
struct Square : Shape {
  explicit Square(long s) : side(s) {}
  long area() const override { return side * side; }
  long side;
};

std::atomic<uint8_t> a8{0};
std::atomic<uint16_t> a16{0};
std::atomic<uint32_t> a32{0};
std::atomic<uint64_t> a64{0};
std::atomic<uint64_t> cas_counter{0};
std::atomic<uint32_t> bits{0};
std::atomic<int> spin{0};
long spun, locked;  // one under the spin lock, one under the mutex
std::mutex guard;

static void work(int id, int rounds) {
  for (int i = 0; i < rounds; i++) {
    a8.fetch_add(1);
    a16.fetch_add(1);
    a32.fetch_add(1);
    a64.fetch_add(1);
    uint64_t seen = cas_counter.load();
    while (!cas_counter.compare_exchange_weak(seen, seen + 1)) {
    }
    bits.fetch_xor(1u << id);
    int expected = 0;
    while (!spin.compare_exchange_strong(expected, 1)) expected = 0;  // a spin lock
    spun++;
    spin.store(0, std::memory_order_release);
    std::lock_guard<std::mutex> g(guard);
    locked++;
  }
}

static int check(const char *what, unsigned long long got, unsigned long long want) {
  std::printf("%s %llu\n", what, got);
  if (got == want) return 0;
  std::fprintf(stderr, "%s: %llu, expected %llu\n", what, got, want);
  return 1;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : kRounds;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) threads.emplace_back(work, t, rounds);
  for (auto &t : threads) t.join();
  unsigned long long n = (unsigned long long)kThreads * rounds;
  int bad = 0;
  bad |= check("a8", a8.load(), n & 0xff);
  bad |= check("a16", a16.load(), n & 0xffff);
  bad |= check("a32", a32.load(), n);
  bad |= check("a64", a64.load(), n);
  bad |= check("cas", cas_counter.load(), n);
  bad |= check("bits", bits.exchange(0), (rounds & 1) ? 3 : 0);
  bad |= check("spun", spun, n);
  bad |= check("locked", locked, n);
  Shape *s = new Square(7);
  bad |= check("area", s->area(), 49);
  delete s;
  return bad;
}
