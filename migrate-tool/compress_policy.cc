// Whether to compress the next frame (see compress_policy.h).
#include "migrate-tool/compress_policy.h"

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

void CompressPolicy::Record(uint64_t raw, double seconds, double link_bytes_per_second) {
  if (mode_ != CompressMode::kAuto) return;
  raw_bytes_ += raw;
  seconds_ += seconds;
  if (++tried_ < kWindow) return;
  tried_ = 0;
  if (static_cast<double>(raw_bytes_) < seconds_ * LinkRateOr(link_bytes_per_second)) {
    skip_left_ = kSkip;
  }
}

}  // namespace mkd::migrate
