// CompressPolicy: whether the source compresses the next PAGES frame (--compress; docs/migrate.md,
// "Compression"). `never` and `always` say it; `auto` tries every frame while the compressor keeps
// up with the link: raw bytes per second of compressing, over every frame tried since the start,
// at least the measured link rate (the link, not the compressor, then sets the pace, and it
// carries fewer bytes). A frame tried goes compressed when that made it smaller (the sender's
// rule), so what `auto` sends depends on the frames' content alone while the compressor keeps up:
// a plan, which compresses the same frames, predicts it (docs/placement.md). When the compressor
// fell behind, the tries stop for kSkip frames, then kWindow frames are tried again. (Two earlier
// rules: "the link time the saved bytes would take exceeds the CPU time spent" ignored that
// compressing overlaps with the link carrying earlier frames; "a window of 32 frames pays when it
// saved 1/8 of its bytes and kept up, else skip 64" sent more bytes than `always` for memory
// that mixes random and compressible pages, and skipped different frames in a migration and its
// plan: docs/decisions.md, "compression".) Pure arithmetic, no clock of its own;
// thread-compatible.
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
  // After a frame Try() said yes to: its raw bytes, the seconds compressing took, and the link's
  // rate (bytes/s; 0: unmeasured, LinkRateOr).
  void Record(uint64_t raw, double seconds, double link_bytes_per_second);
  CompressMode mode() const { return mode_; }

 private:
  CompressMode mode_;
  uint64_t tried_ = 0;      // in the current window
  uint64_t raw_bytes_ = 0;  // tried since the start
  double seconds_ = 0;      // compressing them
  uint64_t skip_left_ = 0;  // frames to send without trying
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_COMPRESS_POLICY_H_
