// checker_report.cc: see checker_report.h.
#include "checker_report.h"

#include <utility>

namespace mkdguest {

CheckerReporter::CheckerReporter(std::function<void(const std::string&)> emit, double interval)
    : emit_(std::move(emit)), interval_(interval) {}

void CheckerReporter::AfterSweep(uint64_t sweep, const std::optional<PageFailure>& failure,
                                 uint64_t failures, double now) {
  total_failures_ += failures;
  const std::string tail =
      " sweep=" + std::to_string(sweep) + " failures=" + std::to_string(total_failures_);
  if (failure && !latched_) {
    latched_ = failure;
    emit_(FormatFailure(*latched_) + tail);
    last_line_ = now;
    return;
  }
  if (now - last_line_ < interval_) return;
  last_line_ = now;
  if (latched_) {
    emit_(FormatFailure(*latched_) + tail);
  } else {
    emit_("checker OK sweep=" + std::to_string(sweep));
  }
}

}  // namespace mkdguest
