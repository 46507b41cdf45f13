// The value of the `user.mkd.receive` xattr of a RAM file: one *receive frame*, a few pages (or a
// run of zero pages) that a migration receiver writes into an incoming block through the mount
// (docs/formats.md, "Receive frame"; docs/memfs.md). Layout, little-endian, 24-byte header:
//
//   0  u32 magic "MKDR"    4  u8 version (1)   5  u8 kind (0 pages, 1 zero, 2 later, 3 runs)
//   6  u16 0               8  u64 first page   16  u32 count        20  u32 generation
//   24 kind 0: count * 4096 bytes of page content; kind 1: nothing;
//      kind 2 (later runs, post-copy): first = 0, generation = 0, count = runs, then count
//      runs of 16 bytes: u64 first page, u32 pages, u32 generation;
//      kind 3 (runs of pages): first = 0, generation = 0, count = runs (1..15), then count runs
//      of 16 bytes as for kind 2, then the content of every run's pages in run order (1..15
//      pages in all): scattered dirty pages travel 15 to a write instead of one.
//
// A frame is one xattr value, so it is at most 64 KiB: kinds 0 and 3 carry 1..15 pages. Untrusted
// input (any process that can set an xattr on the mount): ParseReceiveFrame checks every field
// before anything is used, and is fuzzed (tests/fuzz/fuzz_parse_receive_frame.cc). Whether the
// pages lie inside the block is the Block's check (OutOfRange), not the parser's.
// The name is names.h kReceive. Pure functions; thread-safe.
#ifndef MKD_MEMFS_PROTOCOL_RECEIVE_FRAME_H_
#define MKD_MEMFS_PROTOCOL_RECEIVE_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "genstore/generation.h"

namespace mkd::memfs_protocol {

enum class ReceiveKind : uint8_t {
  kPages = 0,  // count pages of content follow the header
  kZero = 1,   // count pages become zero (holes); no bytes follow
  kLater = 2,  // post-copy: runs of pages whose content comes after the commit
  kRuns = 3,   // runs of pages with their content (several ranges in one write)
};

// One run of a kLater frame: pages [first, first + count) with generation gen.
struct LaterRun {
  uint64_t first = 0;
  uint32_t count = 0;
  Generation gen = 0;
  bool operator==(const LaterRun&) const = default;
};
inline constexpr size_t kLaterRunSize = 16;

inline constexpr uint8_t kReceiveFrameVersion = 1;
inline constexpr size_t kReceiveHeaderSize = 24;
// Linux's XATTR_SIZE_MAX: no xattr value is longer.
inline constexpr size_t kMaxReceiveFrameSize = 65536;
// Pages of content one frame carries at most: (65536 - 24) / 4096.
inline constexpr uint32_t kMaxReceivePages = 15;
// Zero pages one frame names at most, and pages of one later run (a block has at most
// kMaxPages = 2^28 anyway).
inline constexpr uint32_t kMaxReceiveZeroPages = uint32_t{1} << 31;
// Runs in one kLater frame: (65536 - 24) / 16.
inline constexpr uint32_t kMaxLaterRuns = 4094;

// A parsed frame. `data` points into the bytes given to ParseReceiveFrame (count * 4096 bytes for
// kPages, empty for kZero): it is valid as long as they are.
struct ReceiveFrame {
  ReceiveKind kind = ReceiveKind::kPages;
  uint64_t first = 0;  // first page index
  uint32_t count = 0;  // pages
  Generation gen = 0;  // provisional generation of the pages until the arrival commits
  std::string_view data;
  std::vector<LaterRun> runs;  // kLater and kRuns: the runs (count of them), checked
};

// The frame bytes of these fields, written as given (no checks: tests build refused frames with
// it). Whatever ParseReceiveFrame accepts, this re-encodes to the same bytes.
std::string EncodeReceiveFrame(ReceiveKind kind, uint64_t first, uint32_t count, Generation gen,
                               std::string_view data);
// A kLater frame of these runs (at most kMaxLaterRuns; not checked).
std::string EncodeLaterFrame(const std::vector<LaterRun>& runs);
// A kRuns frame: these runs and `data`, their pages' content in run order (not checked).
std::string EncodeRunsFrame(const std::vector<LaterRun>& runs, std::string_view data);

// Checks, in this order: length (24..65536), magic, version, kind, reserved == 0, count (1..15
// for kPages, 1..2^31 for kZero), generation (never the invalid value; 0 only for kZero: a page
// with content was written in some epoch), first + count does not overflow, exact total length.
// kLater: first and generation 0, count 1..4094 runs, exact length, and each run 1..2^31 pages
// with a generation neither 0 nor invalid, not overflowing. kRuns: first and generation 0,
// count 1..15 runs, each 1..15 pages with a generation neither 0 nor invalid, not overflowing,
// 1..15 pages in all, exact length (runs, then their content).
// Errors are InvalidArgument, their message starting with "user.mkd.receive:" and naming the field.
Result<ReceiveFrame> ParseReceiveFrame(std::string_view bytes);

}  // namespace mkd::memfs_protocol

#endif  // MKD_MEMFS_PROTOCOL_RECEIVE_FRAME_H_
