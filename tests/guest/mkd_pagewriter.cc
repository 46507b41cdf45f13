// mkd-pagewriter: the micro-benchmark workload of the paper (section 5.3.2).
//
// Fills --mb MB with random data, then rewrites the first 8 bytes of pages at --rate pages/s for
// --seconds s, picking pages in a random order (a fresh random permutation of all pages, so every
// write dirties a page that was not written yet until all were). Each write stores a value that
// differs from the page's previous one. Output (stdout, one line each):
//   MKD pagewriter filled mb=N pages=P seconds=S
//   MKD pagewriter waiting                          (only with --wait-input)
//   MKD pagewriter progress second=T written=X      (about once per second while writing)
//   MKD pagewriter done written=X distinct=Y seconds=T
// Then the process idles forever so the VM can be migrated with the memory in place, unless --exit.
// --wait-input waits for a line on stdin (the serial console) between filling and writing, so the
// host can start the writes after migrating the filled VM, as in the paper's procedure.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "guest_util.h"

namespace {

constexpr uint64_t kPageSize = 4096;

void Fill(uint8_t* memory, uint64_t bytes, mkdguest::Rng& rng) {
  auto* words = reinterpret_cast<uint64_t*>(memory);
  for (uint64_t i = 0; i < bytes / sizeof(uint64_t); ++i) words[i] = rng.Next();
}

}  // namespace

int main(int argc, char** argv) {
  mkdguest::ArgParser args("mkd-pagewriter", argc, argv);
  const uint64_t mb = args.Uint("--mb", 500, 1 << 20);
  const uint64_t rate = args.Uint("--rate", 200, 10'000'000);
  const uint64_t seconds = args.Uint("--seconds", 10, 1'000'000);
  const uint64_t seed = args.Uint("--seed", 1, UINT64_MAX);
  const bool wait_input = args.Flag("--wait-input");
  const bool exit_when_done = args.Flag("--exit");
  args.Finish();
  if (mb == 0) mkdguest::Die("--mb must be at least 1");

  const uint64_t bytes = mb << 20;
  const uint64_t pages = bytes / kPageSize;
  mkdguest::Rng rng(seed);
  const double fill_start = mkdguest::MonotonicSeconds();
  uint8_t* memory = mkdguest::MapMemory(bytes);
  Fill(memory, bytes, rng);
  mkdguest::Emit("pagewriter filled mb=%llu pages=%llu seconds=%.2f",
                 static_cast<unsigned long long>(mb), static_cast<unsigned long long>(pages),
                 mkdguest::MonotonicSeconds() - fill_start);

  if (wait_input) {
    mkdguest::Emit("pagewriter waiting");
    if (!mkdguest::WaitForInputLine()) mkdguest::Die("stdin closed while waiting for input");
  }

  std::vector<uint32_t> order(pages);
  std::vector<bool> written_once(pages, false);
  uint64_t next_in_order = pages;  // forces a shuffle before the first write
  uint64_t written = 0;
  uint64_t distinct = 0;
  const uint64_t total = rate * seconds;
  const double start = mkdguest::MonotonicSeconds();
  const double end = start + static_cast<double>(seconds);
  double next_progress = start + 1.0;
  while (written < total) {
    const double now = mkdguest::MonotonicSeconds();
    if (now >= end) break;
    // Writes due by now on the fixed schedule start + k/rate; catch up in bursts if we fell behind.
    const uint64_t due =
        std::min(total, static_cast<uint64_t>((now - start) * static_cast<double>(rate)) + 1);
    for (; written < due; ++written) {
      if (next_in_order == pages) {
        std::iota(order.begin(), order.end(), 0u);
        for (uint64_t i = pages - 1; i > 0; --i) std::swap(order[i], order[rng.Below(i + 1)]);
        next_in_order = 0;
      }
      const uint32_t page = order[next_in_order++];
      auto* first = reinterpret_cast<volatile uint64_t*>(memory + page * kPageSize);
      *first = *first ^ (mkdguest::SplitMix64(written) | 1);  // XOR with non-zero: a new value
      if (!written_once[page]) {
        written_once[page] = true;
        ++distinct;
      }
    }
    if (now >= next_progress) {
      mkdguest::Emit("pagewriter progress second=%.0f written=%llu", now - start,
                     static_cast<unsigned long long>(written));
      next_progress += 1.0;
    }
    mkdguest::SleepUntil(
        std::min(end, start + static_cast<double>(written) / static_cast<double>(rate)));
  }
  mkdguest::SleepUntil(end);  // "done" marks the end of the writing period, not the last write
  mkdguest::Emit("pagewriter done written=%llu distinct=%llu seconds=%llu",
                 static_cast<unsigned long long>(written),
                 static_cast<unsigned long long>(distinct),
                 static_cast<unsigned long long>(seconds));
  if (exit_when_done) return 0;
  mkdguest::IdleForever();
}
