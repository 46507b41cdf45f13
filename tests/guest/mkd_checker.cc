// mkd-checker: makes a stale page visible (see checker_pages.h for the page format).
//
// Usage: mkd-checker [--mb N] [--sweep-interval-ms M] [--sweeps K]
//        mkd-checker --self-test
// Output (stdout):
//   MKD checker ready mb=N pages=P
//   MKD checker OK sweep=S                                  (about once per second)
//   MKD checker STALE page=P expected_sweep=S found_sweep=F sweep=S2 failures=K
//   MKD checker CORRUPT page=P expected_sweep=S reason=R sweep=S2 failures=K
// After the first STALE/CORRUPT it never prints OK again. --sweep-interval-ms makes a sweep start
// at most every M ms (default 0: sweep back to back), which bounds the dirty rate so that pre-copy
// migration converges. --sweeps K exits after K sweeps (status 1 if any failed); default: forever.
// --self-test runs in-process checks of the detection and reporting and exits 0 when they pass.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "checker_pages.h"
#include "checker_report.h"
#include "guest_util.h"

namespace {

using mkdguest::CheckerPages;
using mkdguest::CheckerReporter;
using mkdguest::PageFailure;

void EmitLine(const std::string& line) { mkdguest::Emit("%s", line.c_str()); }

int Run(uint64_t mb, uint64_t interval_ms, uint64_t max_sweeps) {
  const uint64_t pages = (mb << 20) / mkdguest::kCheckerPageSize;
  CheckerPages checker(mkdguest::MapMemory(mb << 20), pages);
  checker.Initialize();
  mkdguest::Emit("checker ready mb=%llu pages=%llu", static_cast<unsigned long long>(mb),
                 static_cast<unsigned long long>(pages));
  CheckerReporter reporter(EmitLine, 1.0);
  double next_start = mkdguest::MonotonicSeconds();
  for (uint64_t done = 0; max_sweeps == 0 || done < max_sweeps; ++done) {
    mkdguest::SleepUntil(next_start);
    next_start = mkdguest::MonotonicSeconds() + static_cast<double>(interval_ms) / 1000.0;
    const uint64_t sweep = checker.current_sweep();
    uint64_t failures = 0;
    std::optional<PageFailure> failure = checker.Sweep(&failures);
    reporter.AfterSweep(sweep, failure, failures, mkdguest::MonotonicSeconds());
  }
  return reporter.failed() ? 1 : 0;
}

// The self-test: every expectation that fails is printed; returns the number of failures.
class SelfTest {
 public:
  int Run();

 private:
  void Expect(bool ok, const std::string& what) {
    ++checks_;
    if (!ok) {
      ++failed_;
      mkdguest::Emit("checker self-test FAILED %s", what.c_str());
    }
  }
  void ExpectLine(size_t index, const std::string& want) {
    const std::string got = index < lines_.size() ? lines_[index] : "<no line>";
    Expect(got == want,
           "line " + std::to_string(index) + ": want '" + want + "' got '" + got + "'");
  }

  std::vector<std::string> lines_;
  int checks_ = 0;
  int failed_ = 0;
};

int SelfTest::Run() {
  constexpr uint64_t kPages = 64;
  std::vector<uint8_t> old_copy(mkdguest::kCheckerPageSize);
  CheckerPages checker(mkdguest::MapMemory(kPages * mkdguest::kCheckerPageSize), kPages);
  checker.Initialize();
  CheckerReporter reporter([this](const std::string& line) { lines_.push_back(line); }, 1.0);
  double now = 100.0;
  auto sweep = [&](double advance) {
    now += advance;
    const uint64_t s = checker.current_sweep();
    uint64_t failures = 0;
    std::optional<PageFailure> failure = checker.Sweep(&failures);
    reporter.AfterSweep(s, failure, failures, now);
    return failure;
  };

  // Clean sweeps: OK lines, rate-limited to one per second.
  Expect(!sweep(0.0), "sweep 0 is clean");
  Expect(!sweep(0.5), "sweep 1 is clean");
  memcpy(old_copy.data(), checker.page(7), old_copy.size());  // page 7 as of sweep 2
  Expect(!sweep(0.6), "sweep 2 is clean");
  ExpectLine(0, "checker OK sweep=0");
  ExpectLine(1, "checker OK sweep=2");
  Expect(lines_.size() == 2, "OK lines are rate-limited");

  // Bring page 7 back from the old copy: the very next sweep must call it STALE.
  memcpy(checker.page(7), old_copy.data(), old_copy.size());
  std::optional<PageFailure> stale = sweep(0.1);
  Expect(stale && stale->kind == PageFailure::Kind::kStale && stale->page == 7 &&
             stale->expected_sweep == 3 && stale->found_sweep == 2,
         "restored page 7 is found stale in the next sweep");
  ExpectLine(2, "checker STALE page=7 expected_sweep=3 found_sweep=2 sweep=3 failures=1");

  // The page was rewritten, later sweeps are clean, but the report stays STALE.
  Expect(!sweep(0.1), "sweep 4 is clean again");
  Expect(lines_.size() == 3, "no line within the interval after STALE");
  Expect(!sweep(2.0), "sweep 5 is clean");
  ExpectLine(3, "checker STALE page=7 expected_sweep=3 found_sweep=2 sweep=5 failures=1");

  // Body damage, header damage and a page moved to another index are CORRUPT.
  CheckerPages fresh(mkdguest::MapMemory(kPages * mkdguest::kCheckerPageSize), kPages);
  fresh.Initialize();
  fresh.page(3)[100] ^= 1;
  memcpy(fresh.page(9), fresh.page(10), mkdguest::kCheckerPageSize);
  uint64_t failures = 0;
  std::optional<PageFailure> corrupt = fresh.Sweep(&failures);
  Expect(corrupt && mkdguest::FormatFailure(*corrupt) ==
                        "checker CORRUPT page=3 expected_sweep=0 reason=checksum",
         "flipped body bit is CORRUPT (checksum)");
  Expect(failures == 2, "two damaged pages counted (got " + std::to_string(failures) + ")");
  Expect(!fresh.Sweep(&failures) && failures == 0, "rewritten pages are clean in the next sweep");

  // A stale page whose checksum was fixed up but whose body is from another sweep is CORRUPT.
  memcpy(old_copy.data(), fresh.page(20), old_copy.size());
  (void)fresh.Sweep(&failures);
  // Keep the new header, put back the old body and its (matching) checksum.
  memcpy(fresh.page(20) + 32, old_copy.data() + 32, old_copy.size() - 32);
  memcpy(fresh.page(20) + 24, old_copy.data() + 24, 8);  // old checksum matches old body
  corrupt = fresh.Sweep(&failures);
  Expect(corrupt && corrupt->kind == PageFailure::Kind::kCorrupt && corrupt->reason == "body",
         "old body under a new header is CORRUPT (body)");

  mkdguest::Emit("checker self-test %s checks=%d failed=%d", failed_ == 0 ? "passed" : "FAILED",
                 checks_, failed_);
  return failed_;
}

}  // namespace

int main(int argc, char** argv) {
  mkdguest::ArgParser args("mkd-checker", argc, argv);
  const bool self_test = args.Flag("--self-test");
  const uint64_t mb = args.Uint("--mb", 64, 1 << 20);
  const uint64_t interval_ms = args.Uint("--sweep-interval-ms", 0, 3'600'000);
  const uint64_t max_sweeps = args.Uint("--sweeps", 0, UINT64_MAX);
  args.Finish();
  if (self_test) return SelfTest().Run() == 0 ? 0 : 1;
  if (mb == 0) mkdguest::Die("--mb must be at least 1");
  return Run(mb, interval_ms, max_sweeps);
}
