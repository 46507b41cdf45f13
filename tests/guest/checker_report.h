// checker_report.h: what mkd-checker prints after each sweep, and when.
//
// Policy: "checker OK sweep=S" at most about once per second while every sweep was clean. The first
// failure is printed at once and latched: from then on the reporter only ever prints the latched
// failure line again (with the running failure count), never OK, so a host that looks at the last
// line of the serial log sees STALE/CORRUPT as long as the guest lives. Single-threaded.
#ifndef MIYAKODORI_TESTS_GUEST_CHECKER_REPORT_H_
#define MIYAKODORI_TESTS_GUEST_CHECKER_REPORT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "checker_pages.h"

namespace mkdguest {

class CheckerReporter {
 public:
  // `emit` receives report lines without the "MKD " prefix; `interval` is the minimum number of
  // seconds between two repeated lines.
  CheckerReporter(std::function<void(const std::string&)> emit, double interval);

  // Called after each sweep with the sweep just verified, its first failure (if any), the number of
  // failing pages in it, and the current time in seconds.
  void AfterSweep(uint64_t sweep, const std::optional<PageFailure>& failure, uint64_t failures,
                  double now);

  bool failed() const { return latched_.has_value(); }

 private:
  std::function<void(const std::string&)> emit_;
  double interval_;
  double last_line_ = -1e300;
  std::optional<PageFailure> latched_;
  uint64_t total_failures_ = 0;
};

}  // namespace mkdguest

#endif  // MIYAKODORI_TESTS_GUEST_CHECKER_REPORT_H_
