// The post-copy values of a RAM file's xattrs (names.h; docs/postcopy.md): memfs formats what it
// returns and parses what clients set; mkd-migrate formats what it sets and parses what memfs
// returns (untrusted on both sides: every field and length is checked). Pure functions;
// thread-safe.
//   user.mkd.wanted    get: {"state":S,"missing":N,"pages":[p,...]}: pages reads wait for
//   user.mkd.postcopy  get: the statistics (PostcopyStats as one JSON object)
//                      set: {"fail":"<reason>"}: the source is gone, fail the post-copy
#ifndef MKD_MEMFS_PROTOCOL_POSTCOPY_VALUES_H_
#define MKD_MEMFS_PROTOCOL_POSTCOPY_VALUES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mkd::memfs_protocol {

// A post-copy's state: "active", "complete" or "failed" (the only values both JSON objects carry).
bool IsPostcopyState(std::string_view state);

// ---- user.mkd.wanted ----
// The value is at most this long: memfs answers a size query with it without waiting.
inline constexpr size_t kWantedValueMax = 8192;
// A reader's buffer must hold at least this much (memfs answers ERANGE otherwise).
inline constexpr size_t kWantedMinBuffer = 256;
// Bytes besides the page numbers (the object with the longest state and a 20-digit missing count
// takes 63), and bytes per page number (a page below genstore's kMaxPages = 2^28 has at most 9
// digits, and its comma).
inline constexpr size_t kWantedFrameBytes = 128;
inline constexpr size_t kWantedPageBytes = 11;
// THE cap: one value names at most this many pages; FormatWanted's callers take no more, and
// ParseWanted refuses more (733).
inline constexpr size_t kWantedMaxPages = (kWantedValueMax - kWantedFrameBytes) / kWantedPageBytes;
// How many pages a value read into a buffer of `buffer` bytes (>= kWantedMinBuffer) may name so
// that it fits: at most kWantedMaxPages (postcopy_values_test.cc proves the worst case fits).
size_t WantedPagesFor(size_t buffer);

struct Wanted {
  std::string state;            // IsPostcopyState
  uint64_t missing = 0;         // pages still missing
  std::vector<uint64_t> pages;  // reads wait for these; each below kMaxPages
  bool operator==(const Wanted&) const = default;
};
// Requires IsPostcopyState(w.state) (the state is written unescaped). Byte-exact:
// {"state":"active","missing":12,"pages":[3,4]}.
std::string FormatWanted(const Wanted& w);
// Corrupt (naming user.mkd.wanted) unless: at most kWantedValueMax bytes, an object with exactly
// state (IsPostcopyState), missing (unsigned) and pages (at most kWantedMaxPages unsigned numbers,
// each below `block_pages`).
Result<Wanted> ParseWanted(std::string_view json, uint64_t block_pages);

// ---- user.mkd.postcopy (get) ----
inline constexpr size_t kPostcopyValueMax = 4096;
// A failed post-copy's reason is at most this long (in both values of user.mkd.postcopy).
inline constexpr size_t kMaxFailReason = 512;
struct PostcopyStats {
  std::string state;     // IsPostcopyState
  std::string reason;    // why it failed; empty otherwise (then the JSON has no "reason")
  uint64_t missing = 0;  // pages still missing
  uint64_t total = 0;    // pages missing at the commit
  uint64_t fetched = 0;  // received after a read asked for them
  uint64_t pushed = 0;   // received before any read asked
  uint64_t skipped = 0;  // received but already present (written here, or a duplicate)
  uint64_t faults = 0;   // reads that waited
  uint64_t parked = 0;   // reads waiting now
  double fault_median_ms = 0, fault_p99_ms = 0, fault_max_ms = 0;
  double seconds = 0;  // since the commit, until complete (or until now)
  bool operator==(const PostcopyStats&) const = default;
};
// One JSON object of every field (keys sorted; "reason" only when not empty). Requires finite
// times and a reason of at most kMaxFailReason bytes (then it fits kPostcopyValueMax).
std::string FormatPostcopyStats(const PostcopyStats& stats);
// Corrupt (naming user.mkd.postcopy) unless: at most kPostcopyValueMax bytes, an object with
// exactly the fields FormatPostcopyStats writes, counts unsigned, times finite and >= 0, state
// IsPostcopyState, a reason of 1..kMaxFailReason bytes if any.
Result<PostcopyStats> ParsePostcopyStats(std::string_view json);

// ---- user.mkd.postcopy (set) ----
inline constexpr size_t kMaxFailValueSize = 1024;
// How much of a reason FormatPostcopyFail keeps: even if every byte needs an escape ('"' -> '\"')
// the value fits kMaxFailValueSize.
inline constexpr size_t kFailReasonKept = 500;
// {"fail":"<reason>"}: the reason's bytes outside printable ASCII become '?', it is cut to
// kFailReasonKept bytes ("unknown" when empty), so ParsePostcopyFail accepts every value this
// returns.
std::string FormatPostcopyFail(std::string_view reason);
// Checks size (<= kMaxFailValueSize), syntax, exactly the field "fail" (a string of
// 1..kMaxFailReason bytes); returns the reason. InvalidArgument naming user.mkd.postcopy.
Result<std::string> ParsePostcopyFail(std::string_view json);

}  // namespace mkd::memfs_protocol

#endif  // MKD_MEMFS_PROTOCOL_POSTCOPY_VALUES_H_
