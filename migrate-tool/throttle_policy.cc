// ThrottlePolicy (throttle_policy.h): when and how far the vCPU throttle rises, on plain numbers.
// Touches nothing.
#include "migrate-tool/throttle_policy.h"

#include <algorithm>
#include <string>

namespace mkd::migrate {
namespace {

constexpr uint32_t kMaxPercent = 99;  // 100 would stop the guest: that is the switchover's job

Status OutOfRange(const char* option, uint32_t value, const std::string& allowed) {
  return Status::InvalidArgument(std::string(option) + " " + std::to_string(value) +
                                 " is out of range: it must be " + allowed +
                                 " (percent of the vCPUs' time taken away)");
}

}  // namespace

Status CheckThrottleOptions(const ThrottleOptions& o) {
  if (o.initial_percent < 1 || o.initial_percent > kMaxPercent) {
    return OutOfRange("--throttle-initial", o.initial_percent, "1 to 99");
  }
  if (o.step_percent < 1 || o.step_percent > kMaxPercent) {
    return OutOfRange("--throttle-step", o.step_percent, "1 to 99");
  }
  if (o.max_percent < 1 || o.max_percent > kMaxPercent) {
    return OutOfRange("--max-throttle", o.max_percent, "1 to 99");
  }
  if (o.initial_percent > o.max_percent) {
    return Status::InvalidArgument("--throttle-initial " + std::to_string(o.initial_percent) +
                                   " is above --max-throttle " + std::to_string(o.max_percent) +
                                   ": lower --throttle-initial or raise --max-throttle");
  }
  return Status::Ok();
}

ThrottlePolicy::ThrottlePolicy(ThrottleOptions o) : options_(o) {
  options_.max_percent = std::clamp(o.max_percent, 1u, kMaxPercent);
  options_.initial_percent = std::clamp(o.initial_percent, 1u, options_.max_percent);
  options_.step_percent = std::clamp(o.step_percent, 1u, kMaxPercent);
}

uint32_t ThrottlePolicy::AfterRound(uint64_t dirtied_bytes, uint64_t sent_bytes) {
  // "More than half" without overflow: for integers, d > s/2 exactly when d > floor(s/2).
  if (dirtied_bytes <= sent_bytes / 2) {
    hot_rounds_ = 0;
    return percent_;
  }
  // Before the first rise, two hot rounds in a row (QEMU's rule); once throttled, one.
  if (++hot_rounds_ < (percent_ == 0 ? 2u : 1u)) return percent_;
  hot_rounds_ = 0;
  uint32_t next = options_.initial_percent;
  if (percent_ != 0) {
    const uint32_t halved = 100 - (100 - percent_) / 2;  // half the CPU time the vCPUs keep
    next = std::min(std::max(percent_ + options_.step_percent, halved), options_.max_percent);
  }
  if (next > percent_) {
    percent_ = next;
    ++steps_;
  }
  return percent_;
}

}  // namespace mkd::migrate
