// LogLimiter: how many log lines a flood of like events may cost. A process that logs every
// refusal of an outsider's request would let the outsider fill its log's disk; with a limiter it
// logs at most `per_second` lines a second and says, on the next line it logs, how many it left
// out. Used by mkd-memfs (refused requests) and mkd-migrate serve (refused connections).
// Thread-safe.
#ifndef MKD_GENSTORE_LOG_LIMITER_H_
#define MKD_GENSTORE_LOG_LIMITER_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace mkd {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogLimiter(uint32_t per_second) : per_second_(per_second) {}

  // nullopt: leave this event's line out. Otherwise log it, with the returned number of events
  // left out since the last line that was logged.
  std::optional<uint64_t> Admit(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mu_);
    if (now - window_ >= std::chrono::seconds(1)) {
      window_ = now;
      lines_ = 0;
    }
    if (lines_ >= per_second_) {
      ++left_out_;
      return std::nullopt;
    }
    ++lines_;
    const uint64_t n = left_out_;
    left_out_ = 0;
    return n;
  }

 private:
  const uint32_t per_second_;
  std::mutex mu_;  // guards the members below
  Clock::time_point window_{};
  uint32_t lines_ = 0;
  uint64_t left_out_ = 0;
};

}  // namespace mkd

#endif  // MKD_GENSTORE_LOG_LIMITER_H_
