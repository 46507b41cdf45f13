// SendPageRange: puts a range of the source VM's pages on the wire as it is now: content read
// through the RAM file (the guest's page cache), neighbouring pages with the same generation and
// zero-ness grouped into one PAGES or ZEROS frame. The first pass, the rounds, the last pages of
// a pre-copy and the post-copy push and fetch all send pages this way.
// Thread-compatible: the caller owns the link and the RAM file for the call.
#ifndef MKD_MIGRATE_TOOL_PAGE_SENDER_H_
#define MKD_MIGRATE_TOOL_PAGE_SENDER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"
#include "genstore/generation.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/compress_policy.h"
#include "migrate-tool/page_codec.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/report.h"
#include "migrate-tool/source_ports.h"

namespace mkd::migrate {

// One frame's worth of pages that went out.
struct SentRun {
  uint64_t first = 0, count = 0;
  bool zero = false;  // a ZEROS frame (the content was all zeros)
};

// Compression of PAGES frames for SendPageRange: the policy that decides, zstd's context, a buffer,
// the link rate the policy weighs against (set by the caller as it is measured) and the report's
// counters. One per sending thread.
struct FrameCompression {
  explicit FrameCompression(CompressMode mode, CompressionReport* r) : policy(mode), report(r) {
    report->mode = std::string(CompressModeName(mode));
  }
  CompressPolicy policy;
  PageCompressor compressor;
  std::string buf;
  double link_bytes_per_second = 0;
  CompressionReport* report;
};

// Sends pages [first, first + count) of block 0 (count <= kMaxPagesPerFrame); `buf` holds at
// least count pages. `gen_of` gives each page's generation; `on_sent` hears of every frame sent.
// With `times`, the seconds spent reading and sending are added to times->read and ->send.
// The frames are queued on the link (PeerLink::Queue): the caller flushes. With `z`, a frame of
// pages goes as PAGES_Z when z's policy tries and compressing shrinks it.
Status SendPageRange(PeerLink& ch, SourceRam& ram, uint64_t first, uint64_t count, char* buf,
                     const std::function<Generation(uint64_t)>& gen_of,
                     const std::function<void(const SentRun&)>& on_sent, PipeTimes* times = nullptr,
                     FrameCompression* z = nullptr);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_PAGE_SENDER_H_
