// checker_pages.h: the page format and sweep logic of mkd-checker, separate from its main() so the
// self-test drives exactly the code the guest runs.
//
// The checker owns `page_count` pages of 4 KiB. Page i after sweep s holds
//   header: magic "MKDCHK01", index i, sweep s, checksum of the body
//   body:   4096 - 32 bytes, a deterministic function of (i, s)
// Sweep s verifies that every page is exactly (i, s) — header and body — and rewrites it as
// (i, s + 1). A page brought back from an older copy of memory (what a broken migration that
// reuses stale pages would do) carries an older sweep number and is reported as STALE during the
// next sweep; any other damage is CORRUPT. Single-threaded; the memory is borrowed, not owned.
#ifndef MIYAKODORI_TESTS_GUEST_CHECKER_PAGES_H_
#define MIYAKODORI_TESTS_GUEST_CHECKER_PAGES_H_

#include <cstdint>
#include <optional>
#include <string>

namespace mkdguest {

inline constexpr uint64_t kCheckerPageSize = 4096;

// What one page was found to hold when it did not match.
struct PageFailure {
  enum class Kind { kStale, kCorrupt };
  Kind kind = Kind::kCorrupt;
  uint64_t page = 0;
  uint64_t expected_sweep = 0;
  uint64_t found_sweep = 0;  // the header's sweep number (meaningful for kStale)
  std::string reason;        // for kCorrupt: which check failed
};

// The report line (without the "MKD " prefix) for a failure:
//   "checker STALE page=P expected_sweep=S found_sweep=F"
//   "checker CORRUPT page=P expected_sweep=S reason=R"
std::string FormatFailure(const PageFailure& failure);

class CheckerPages {
 public:
  // `memory` must hold page_count * kCheckerPageSize bytes and stay valid while this object lives.
  CheckerPages(uint8_t* memory, uint64_t page_count);

  // Writes every page as (i, 0). The next sweep is sweep 0.
  void Initialize();

  // Verifies every page against (i, current sweep) and rewrites it for the next sweep. Returns the
  // first failure found (the sweep still rewrites every page, so later sweeps can find new damage),
  // and counts all failures of this sweep in *failures when non-null.
  std::optional<PageFailure> Sweep(uint64_t* failures);

  // The sweep the next Sweep() call verifies.
  uint64_t current_sweep() const { return sweep_; }
  uint64_t page_count() const { return page_count_; }
  uint8_t* page(uint64_t index) { return memory_ + index * kCheckerPageSize; }

 private:
  void WritePage(uint64_t index, uint64_t sweep);
  std::optional<PageFailure> CheckPage(uint64_t index, uint64_t sweep) const;

  uint8_t* memory_;
  uint64_t page_count_;
  uint64_t sweep_ = 0;
};

}  // namespace mkdguest

#endif  // MIYAKODORI_TESTS_GUEST_CHECKER_PAGES_H_
