// PostcopySender: the source's part once a post-copy switchover committed (docs/postcopy.md).
// The VM is about to run (or runs) at the destination; the pages it still lacks are here only.
// Pages the destination asks for (WANT: a read of the VM waits for them) go out first, each with
// the missing pages right after it (the window); in between, the rest is pushed in page order.
// The push keeps at most `max_unacked` bytes queued in the socket, so that a wanted page never
// waits behind much of it. Runs until the destination says it holds every page (POSTCOPY_DONE).
// Thread: the only user of the link and the RAM file while Run runs (its own thread, while
// the caller drives QEMU's switchover).
#ifndef MKD_MIGRATE_TOOL_POSTCOPY_SOURCE_H_
#define MKD_MIGRATE_TOOL_POSTCOPY_SOURCE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>

#include "base/status.h"
#include "genstore/page_bitmap.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/page_sender.h"
#include "migrate-tool/source_ports.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

struct PostcopySendOptions {
  uint32_t window = 16;                       // pages sent with a wanted page (it included)
  uint32_t push_pages = 32;                   // pages per pushed frame
  uint64_t max_unacked = 256 * 1024;          // bytes queued in the socket before the push waits
  std::chrono::milliseconds timeout{30'000};  // silence of the destination after the last page
};

struct PostcopySendStats {
  uint64_t wanted = 0;          // pages the destination asked for
  uint64_t sent_on_demand = 0;  // pages sent because of a WANT (window included)
  uint64_t pushed = 0;          // pages sent by the push
  PostcopyDone done;            // the destination's statistics
};

class PostcopySender {
 public:
  // `missing`: the pages the destination lacks; `gen_of` their generations; `on_sent` hears of
  // every frame of pages sent; `on_running` is called once the destination's QEMU runs;
  // `on_progress(sent, total)` about every 200 ms. All are called on Run's thread.
  PostcopySender(PeerLink& ch, SourceRam& ram, PageBitmap missing,
                 std::function<Generation(uint64_t)> gen_of,
                 std::function<void(const SentRun&)> on_sent, std::function<void()> on_running,
                 std::function<void(uint64_t, uint64_t)> on_progress, PostcopySendOptions options);
  // Until POSTCOPY_DONE. Errors: the link's; FailedPrecondition when the destination says
  // its QEMU did not take over (its RESULT message).
  Status Run();
  const PostcopySendStats& stats() const { return stats_; }

 private:
  Status Handle(const Frame& f);
  Status SendRange(uint64_t first, uint64_t count, bool demanded);

  PeerLink& ch_;
  SourceRam& ram_;
  PageBitmap missing_;  // not sent yet
  std::function<Generation(uint64_t)> gen_of_;
  std::function<void(const SentRun&)> on_sent_;
  std::function<void()> on_running_;
  std::function<void(uint64_t, uint64_t)> on_progress_;
  PostcopySendOptions o_;
  std::deque<uint64_t> demand_;  // wanted pages, oldest first
  std::string buf_;
  uint64_t push_next_ = 0;
  bool done_ = false;
  bool halfway_ = false;                                   // the fault point source.postcopy fired
  std::chrono::steady_clock::time_point stalled_since_{};  // the socket stopped draining
  uint64_t last_unacked_ = UINT64_MAX;
  PostcopySendStats stats_;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_POSTCOPY_SOURCE_H_
