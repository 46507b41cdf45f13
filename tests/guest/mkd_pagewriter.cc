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
//
// --rewrite-passes N (default 0) measures guest memory-write throughput (scripts/bench-memfs):
// right after the fill, every byte of the area is rewritten N times (8-byte stores of a new
// non-zero value each pass), each pass timed; --rewrite-seconds T (default 0: no limit) stops
// after the first pass that ends T s or more after the first began. A pass of 200 MB takes ~0.1 s
// under TCG, far less than the kernel's write-back period (30 s), so a steady state that includes
// write-back needs many passes. Only in this mode, more lines appear, before the "waiting" line:
//   MKD pagewriter mapped mb=N seconds=S            (the first touch alone: mapping, faulting in)
//   MKD pagewriter rewrite pass=I seconds=S mb=N    (I = 1, 2, ..., after each pass)
//   MKD pagewriter rewritten passes=K seconds=S mb=N  (all passes: K passes took S s in total)
// The "filled" line's seconds include the mapping, as without this option.
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

// Stores a new value in every word, cheap to compute so the pass costs memory writes, not
// arithmetic: `key ^ index` with a per-pass key whose top bit is set, so no word (and no page)
// becomes zero (the page store keeps zero pages as holes, a different path).
void Rewrite(uint8_t* memory, uint64_t bytes, uint64_t pass) {
  auto* words = reinterpret_cast<uint64_t*>(memory);
  const uint64_t key = mkdguest::SplitMix64(pass) | (uint64_t{1} << 63);
  for (uint64_t i = 0; i < bytes / sizeof(uint64_t); ++i) words[i] = key ^ i;
  // The stores must happen now, inside the timed pass, not be sunk past the clock read.
  asm volatile("" : : "r"(memory) : "memory");
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
  const uint64_t rewrite_passes = args.Uint("--rewrite-passes", 0, 1'000'000);
  const uint64_t rewrite_seconds = args.Uint("--rewrite-seconds", 0, 1'000'000);
  args.Finish();
  if (mb == 0) mkdguest::Die("--mb must be at least 1");

  const uint64_t bytes = mb << 20;
  const uint64_t pages = bytes / kPageSize;
  mkdguest::Rng rng(seed);
  const double fill_start = mkdguest::MonotonicSeconds();
  uint8_t* memory = mkdguest::MapMemory(bytes);
  const double mapped = mkdguest::MonotonicSeconds();
  Fill(memory, bytes, rng);
  const double filled = mkdguest::MonotonicSeconds();
  if (rewrite_passes > 0) {
    mkdguest::Emit("pagewriter mapped mb=%llu seconds=%.3f", static_cast<unsigned long long>(mb),
                   mapped - fill_start);
  }
  mkdguest::Emit("pagewriter filled mb=%llu pages=%llu seconds=%.2f",
                 static_cast<unsigned long long>(mb), static_cast<unsigned long long>(pages),
                 filled - fill_start);
  if (rewrite_passes > 0) {
    const double rewrite_start = mkdguest::MonotonicSeconds();
    double pass_end = rewrite_start;
    uint64_t pass = 0;
    while (
        pass < rewrite_passes &&
        (rewrite_seconds == 0 || pass_end - rewrite_start < static_cast<double>(rewrite_seconds))) {
      ++pass;
      const double pass_start = pass_end;
      Rewrite(memory, bytes, seed * 1'000'000 + pass);
      pass_end = mkdguest::MonotonicSeconds();
      mkdguest::Emit("pagewriter rewrite pass=%llu seconds=%.3f mb=%llu",
                     static_cast<unsigned long long>(pass), pass_end - pass_start,
                     static_cast<unsigned long long>(mb));
    }
    mkdguest::Emit("pagewriter rewritten passes=%llu seconds=%.3f mb=%llu",
                   static_cast<unsigned long long>(pass), pass_end - rewrite_start,
                   static_cast<unsigned long long>(mb));
  }

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
