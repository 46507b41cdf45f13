// MigrationReport: what one migration did, as the operator sees it at the end (text) or a
// program reads it (--json). The page accounting adds up by construction: every page of the VM
// is counted once as sent (its last transfer carried content), zero (never written, or its last
// content was all zeros) or reused (the destination already held it); page_transfers counts
// every page put on the wire, resends included.
#ifndef MKD_MIGRATE_TOOL_REPORT_H_
#define MKD_MIGRATE_TOOL_REPORT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "migrate-tool/peer/tls.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

struct RoundStat {
  uint32_t round = 0;  // 0: the first pass; 1..: rounds of sync-and-send; last: final
  uint64_t pages = 0;  // pages put on the wire in this round (content and zero)
  uint64_t bytes = 0;  // frame bytes sent in this round
  double seconds = 0;
  uint32_t throttle_percent = 0;  // vCPU time taken away while this round ran (auto-converge)
  // Rounds 1..: the pause the stop rule forecast had this round been the last (stop_rule.h).
  double forecast_downtime_ms = 0;
  // Rounds 1..: the pages that pause would have carried (the stop rule's final set), and the
  // seconds between this round's sync cut and the previous one (the interval its dirty rate is
  // measured over). The next round's `pages` is what the guest actually wrote.
  double forecast_pages = 0;
  double cut_interval_seconds = 0;
  // Rounds 1..: pages held back for the pause after this round (hot_pages.h; in `pages`, not
  // sent in this round).
  uint64_t held_pages = 0;
};

// Auto-converge: how much the guest was slowed down to make pre-copy converge.
struct ThrottleReport {
  bool enabled = false;        // --no-auto-converge turns it off
  uint32_t max_percent = 0;    // the most vCPU time taken away (0: the guest was never slowed)
  uint32_t steps = 0;          // times the throttle rose
  double seconds = 0;          // from the first rise until it was lifted at the pause
  double throttled_seconds = 0;  // the kernel's count of time the vCPU threads were held back
  std::string error;           // why it could not be applied (the migration went on without)
};

// --compress: what compressing PAGES frames did (page_sender.h, compress_policy.h).
struct CompressionReport {
  std::string mode = "never";      // auto, always, never
  uint64_t frames_tried = 0;       // frames of pages compressed (kept or not)
  uint64_t frames_compressed = 0;  // of those, sent compressed (PAGES_Z)
  uint64_t raw_bytes = 0;          // content of the frames sent compressed
  uint64_t compressed_bytes = 0;   // what it became on the wire
  double seconds = 0;              // the source's CPU time compressing (part of pipe.send)
};

// Reuse by content (content_offers.h): what the first pass offered by digest and what came of it.
struct ContentReport {
  bool enabled = false;       // offered at all (--no-content-reuse, --no-reuse: off)
  uint64_t offers = 0;        // OFFER frames
  uint64_t offered = 0;       // pages offered
  uint64_t taken = 0;         // of those, taken by the destination from a page it held
  uint64_t needed = 0;        // of those, asked for and sent as pages
  uint64_t offer_bytes = 0;   // OFFER payloads (56 bytes a page)
  double digest_seconds = 0;  // the source's CPU time digesting offered pages (in pipe.send)
  std::string stopped;        // why offering stopped before the first pass ended ("": it did not)
};

// Where a migration's time went on the source, in seconds summed over the migration (the "pipe"
// of the report; scripts/bench-pipe prints it). The stages are sequential on the source's
// thread, so they add up to at most the total; the destination's own split comes with its
// RESULT of the COMMIT.
struct PipeTimes {
  double prepare = 0;     // definition, RAM file summary, QMP, TLS context
  double handshake = 0;   // connecting, HELLO, the destination's arrival, its TABLE
  double ready = 0;       // waiting at the switchover for the destination's QEMU (READY)
  double sync = 0;        // waiting for dirty-log syncs (user.mkd.sync.<consumer>)
  double sync_total = 0;  // the syncs' own time, most of it overlapped with sending
  double classify = 0;    // reading our table and the reusable bitmap, ZEROS of the base
  double read = 0;        // page content read through the mount
  double send = 0;        // frames handed to the TLS stream (waits for the link included)
  double switchover = 0;  // QEMU's own migration until it paused at pre-switchover
  double verify = 0;      // --verify
  double commit = 0;      // COMMIT and its RESULT
  double finish = 0;      // migrate-continue until the destination reported the VM running
  double first_page = 0;  // from the start until the first frame of pages was sent (0: none)
  double content_wait = 0;  // waiting for the destination's NEEDs (reuse by content)
  std::optional<ReceiveStats> destination;  // the destination's receive statistics
  // The control connection's sending over the whole migration: which side held the link back.
  std::optional<peer::TcpSendTimes> link;
};

struct MigrationReport {
  std::string vm;
  CompressionReport compression;
  std::string from_host, to_host;
  bool reuse = true;
  bool verified = false;  // --verify ran and every page matched
  bool converged = true;  // the last round fitted the downtime budget
  uint64_t pages_total = 0;
  uint64_t pages_sent = 0, pages_zero = 0, pages_reused = 0;
  uint64_t pages_content = 0;  // taken by the destination from a page with the same content
  ContentReport content;
  uint64_t page_transfers = 0;      // pages on the wire with content, resends included
  uint64_t zero_transfers = 0;      // pages on the wire as zero records
  uint64_t page_bytes = 0;          // content bytes (page_transfers * 4 KiB)
  uint64_t control_bytes_sent = 0;  // frame bytes we sent on the control connection
  uint64_t control_bytes_received = 0;
  uint64_t qemu_stream_bytes = 0;  // QEMU's device state through the tunnel
  uint64_t wire_bytes = 0;         // everything both connections carried (frames, both ways)
  std::vector<RoundStat> rounds;
  PipeTimes pipe;
  ThrottleReport throttle;
  double total_seconds = 0;     // from the start until the VM runs at the destination
  double setup_seconds = 0;     // until the destination was ready (its QEMU started)
  double retire_seconds = 0;    // stopping the source QEMU afterwards (not in total_seconds)
  double downtime_ours_ms = 0;  // VM paused at pre-switchover until migrate-continue
  double downtime_qemu_ms = 0;  // QEMU's own report (query-migrate "downtime")
  // From the pause until the destination's word that its QEMU runs the VM (its answer to
  // WAIT_RUNNING, on our clock): the guest's downtime at most, give or take its 20 ms poll.
  double downtime_until_running_ms = 0;
  uint32_t source_epoch = 0, destination_epoch = 0;
  // Post-copy (mode "postcopy"): pages the destination lacked when the VM resumed there, how
  // they came (asked for by a read of the VM, or pushed), how long reads waited, and when the
  // destination held every page (seconds from the resume).
  std::string mode = "precopy";
  uint64_t postcopy_missing = 0;
  uint64_t postcopy_fetched = 0, postcopy_pushed = 0, postcopy_faults = 0;
  double fault_median_ms = 0, fault_p99_ms = 0, fault_max_ms = 0;
  double postcopy_complete_seconds = 0;
  uint64_t verify_skipped = 0;  // post-copy --verify: pages written at the destination meanwhile
  std::string outcome = "ok";   // or what went wrong and where the VM runs
};

nlohmann::json ToJson(const MigrationReport& r);
// Lines for a terminal.
std::string FormatReport(const MigrationReport& r);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_REPORT_H_
