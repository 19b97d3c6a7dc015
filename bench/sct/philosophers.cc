// SPDX-License-Identifier: MIT
// Five philosophers, std::thread and std::mutex, each taking the fork on the left, then the
// one on the right: a cycle of waits when every one holds a left fork (a deadlock).
// SCT_CLEAN: the last philosopher takes its forks in the other order (a global lock order).
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

constexpr int kSeats = 5;
std::mutex forks[kSeats];
int meals[kSeats];

void dine(int seat) {
  int left = seat, right = (seat + 1) % kSeats;
#ifdef SCT_CLEAN
  if (right < left) std::swap(left, right);
#endif
  for (int round = 0; round < 2; round++) {
    std::lock_guard<std::mutex> first(forks[left]);
    std::lock_guard<std::mutex> second(forks[right]);
    meals[seat]++;
  }
}

int main() {
  std::vector<std::thread> table;
  for (int i = 0; i < kSeats; i++) table.emplace_back(dine, i);
  for (auto &t : table) t.join();
  int total = 0;
  for (int m : meals) total += m;
  std::printf("%d meals\n", total);
  return total == 2 * kSeats ? 0 : 1;
}
