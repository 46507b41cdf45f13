// Whether to compress the next frame (see compress_policy.h).
#include "migrate-tool/compress_policy.h"

#include <algorithm>

#include "migrate-tool/stop_rule.h"

namespace mkd::migrate {

std::string_view CompressModeName(CompressMode mode) {
  switch (mode) {
    case CompressMode::kAuto:
      return "auto";
    case CompressMode::kAlways:
      return "always";
    case CompressMode::kNever:
      return "never";
  }
  return "?";
}

std::optional<CompressMode> ParseCompressMode(std::string_view name) {
  for (CompressMode m : {CompressMode::kAuto, CompressMode::kAlways, CompressMode::kNever}) {
    if (name == CompressModeName(m)) return m;
  }
  return std::nullopt;
}

bool CompressPolicy::Try() {
  if (mode_ != CompressMode::kAuto) return mode_ == CompressMode::kAlways;
  if (skip_left_ == 0) return true;
  --skip_left_;
  return false;
}

void CompressPolicy::Record(uint64_t raw, uint64_t compressed, double seconds,
                            double link_bytes_per_second) {
  if (mode_ != CompressMode::kAuto) return;
  raw_bytes_ += raw;
  saved_bytes_ += raw - std::min(raw, compressed);
  spent_seconds_ += seconds;
  if (++tried_ < kWindow) return;
  const bool shrinks = saved_bytes_ * 8 >= raw_bytes_;
  const bool keeps_up =
      static_cast<double>(raw_bytes_) >= spent_seconds_ * LinkRateOr(link_bytes_per_second);
  if (!shrinks || !keeps_up) skip_left_ = kSkip;
  tried_ = 0;
  raw_bytes_ = saved_bytes_ = 0;
  spent_seconds_ = 0;
}

}  // namespace mkd::migrate
