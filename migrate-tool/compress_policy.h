// CompressPolicy: whether the source compresses the next PAGES frame (--compress; docs/migrate.md,
// "Compression"). `never` and `always` say it; `auto` compresses while it pays. It judges over
// windows of kWindow tried frames: a window pays when it saved at least 1/8 of its bytes and the
// compressor kept up with the link (raw bytes per second of compressing at least the measured
// link rate): the link, not the compressor, then sets the pace, and it carries fewer bytes. (A
// first rule, "the link time the saved bytes would take exceeds the CPU time spent", ignored that
// compressing overlaps with the link carrying earlier frames: it gave up on a used guest's memory
// that halves, whose hop `always` made 30 % shorter; docs/decisions.md, "compression".) A window
// that did not pay stops the tries for kSkip frames, then a window is tried again, so that
// compressible memory between incompressible stretches is found: incompressible memory costs
// the tries of one frame in three. Pure arithmetic, no clock of its own; thread-compatible.
#ifndef MKD_MIGRATE_TOOL_COMPRESS_POLICY_H_
#define MKD_MIGRATE_TOOL_COMPRESS_POLICY_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace mkd::migrate {

enum class CompressMode { kAuto, kAlways, kNever };
std::string_view CompressModeName(CompressMode mode);
std::optional<CompressMode> ParseCompressMode(std::string_view name);  // "auto", ...

class CompressPolicy {
 public:
  static constexpr uint64_t kWindow = 32;
  static constexpr uint64_t kSkip = 64;

  explicit CompressPolicy(CompressMode mode) : mode_(mode) {}
  // Whether to compress the next frame. Counts the frame when it says no.
  bool Try();
  // After a frame Try() said yes to: its raw bytes, what compressing made of them (raw when it
  // did not shrink: it goes as it is), the seconds compressing took, and the link's rate
  // (bytes/s; 0: unmeasured, LinkRateOr).
  void Record(uint64_t raw, uint64_t compressed, double seconds, double link_bytes_per_second);
  CompressMode mode() const { return mode_; }

 private:
  CompressMode mode_;
  uint64_t tried_ = 0;        // in the current window
  uint64_t raw_bytes_ = 0;    // tried in the current window
  uint64_t saved_bytes_ = 0;  // what compressing saved of them
  double spent_seconds_ = 0;  // compressing in the current window
  uint64_t skip_left_ = 0;    // frames to send without trying
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_COMPRESS_POLICY_H_
