// mkd-migrate plan: before migrating, how many of a VM's pages each candidate host could reuse,
// and what a migration there would send and take (docs/placement.md). Run on the VM's host: for
// each candidate it asks that host's serve (mutual TLS, a PLAN frame: plan_answer.h is the other
// side) for the table an arrival there would start from, compares it with the VM's own table
// (genstore/compare.h: the rule a migration uses) and counts the frames the first pass would
// send, reading the pages to send to tell the zero ones (a ZEROS frame carries no content) and to
// compress them as the migration's --compress would. Reuse by content is asked the way the first
// pass asks it: the pages it would offer are offered on the plan's connection (OFFER, with their
// digests), and the host answers with the NEED its arrival would send, from the same lookups;
// the offers stop where a migration's would (content_offers.h).
// Pages the guest writes after the plan are not in it: a migration's rounds send them.
//
// EstimateHost is pure arithmetic over tables and bitmaps (unit-tested); RunPlan does the I/O:
// the RAM file through the mount (its dirty pages written back first, as the kernel would within
// its 30 s) and one short connection per host. Thread-compatible.
#ifndef MKD_MIGRATE_TOOL_PLAN_H_
#define MKD_MIGRATE_TOOL_PLAN_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"
#include "migrate-tool/compress_policy.h"
#include "migrate-tool/peer/tls.h"

namespace mkd::migrate {

// QEMU's own device state, which travels beside the pages: 0.32 MB for every PC guest measured
// in the lab (256 MiB and 1 GiB, docs/evaluation/results.json's qemu_stream_bytes). An estimate:
// a guest with more devices sends more.
inline constexpr uint64_t kDeviceStateEstimateBytes = 320'000;
// HELLO, READY, COMMIT, RESULT, WAIT_RUNNING and their frame headers, rounded up.
inline constexpr uint64_t kControlEstimateBytes = 1'024;

// What a migration to one host would do.
struct HostPlan {
  std::string host;
  std::string error;  // empty: the host answered; else why there is no plan (refused, unreachable)
  std::string base;   // the destination's word on the memory it holds of the VM
  uint64_t reusable = 0;       // pages the destination holds in the same generation: not sent
  uint64_t never_written = 0;  // pages the VM never wrote: not sent
  uint64_t zero_fill = 0;      // of those, where the destination holds something: a ZEROS frame
  uint64_t offered = 0;        // pages offered by content (OFFER entries)
  uint64_t by_content = 0;     // of those, pages the destination holds the content of: not sent
  std::string content_stopped;  // why offering stopped early ("" when it did not)
  uint64_t send_content = 0;   // pages sent with their content (PAGES frames)
  uint64_t send_zero = 0;      // pages sent that read as zeros (ZEROS frames, no content)
  uint64_t frames = 0;         // PAGES and ZEROS frames of the first pass
  uint64_t content_bytes = 0;  // of the PAGES frames, as sent (compressed where it would be)
  uint64_t offer_bytes = 0;    // the OFFER frames, headers included
  uint64_t table_bytes = 0;    // the destination's TABLE frame's payload
  uint64_t bytes = 0;          // everything on the wire, device state and control included
  double seconds = 0;          // bytes at the link rate (setup and QEMU's start come on top)
};

struct Plan {
  std::string vm_name;
  Uuid vm;
  uint32_t epoch = 0;
  uint64_t pages = 0;
  double link_bytes_per_second = 0;
  bool link_given = false;  // --bandwidth; else kUnmeasuredLinkBytesPerSecond
  std::vector<HostPlan> hosts;
};

// What a host answered to the offers of the pages a migration's first pass would offer.
struct ContentAnswer {
  PageBitmap offered;  // the pages of every range offered (its zero pages too: they go as ZEROS)
  PageBitmap taken;    // the offered pages the host holds the content of
  uint64_t offered_pages = 0;  // OFFER entries
  uint64_t offer_bytes = 0;    // OFFER frames, headers included
  std::string stopped;         // why offering stopped early (ContentOffers::stopped)
};

// The pages the first pass of a migration of the VM whose table is `vm` sends to a host whose
// arrival starts from `peer`: every page written and not reusable (the first pass's set).
PageBitmap PagesToSend(const GenerationTable& vm, const GenerationTable& peer);

// The first pass of a migration of the VM whose table is `vm` (pages written in `epoch` may show
// as invalid) to a host whose arrival would start from `peer`; `zero` marks pages whose content
// reads as zeros now (only those the pass would send are looked at). Frames as the source groups
// them: runs of up to 256 neighbouring pages, split where the generation or the zero-ness
// changes; a run that was offered (`content`, when not null) sends its zero pages as ZEROS, one
// OFFER, and then the pages the host did not take, as PAGES frames of neighbouring pages.
// `table_bytes`: the TABLE frame's payload. Fills every count of HostPlan but host, error and
// base.
// `content_bytes(first, count)`: what the content of a PAGES frame of those pages takes on the
// wire (compressed or not); empty: count x 4 KiB.
HostPlan EstimateHost(
    const GenerationTable& vm, uint32_t epoch, const GenerationTable& peer, const PageBitmap& zero,
    uint64_t table_bytes, double link_bytes_per_second,
    const std::function<uint64_t(uint64_t first, uint64_t count)>& content_bytes = {},
    const ContentAnswer* content = nullptr);

struct PlanTarget {
  std::string host;     // its id (its certificate's CN)
  std::string address;  // where its serve listens (empty: the id, port 7420)
};

struct PlanOptions {
  std::string definition;  // the VM's definition file on this host
  std::vector<PlanTarget> to;
  std::string host_id;  // this host's id (HELLO's source host)
  peer::TlsConfig tls;
  uint64_t bandwidth = 0;  // bytes/s to estimate with; 0: kUnmeasuredLinkBytesPerSecond
  // The migration's --compress: frames are compressed as its policy would (compress_policy.h),
  // with the time compressing takes here.
  CompressMode compress = CompressMode::kAuto;
  // The migration's reuse by content (--no-content-reuse: false): the hosts are asked what they
  // hold of the pages it would offer.
  bool content_reuse = true;
  std::chrono::milliseconds timeout{30000};
};

// The plan for every host of o.to, in that order. An error only when the VM cannot be planned
// at all (no definition, not running here, memfs unreadable); a host that cannot answer gets its
// HostPlan::error.
Result<Plan> RunPlan(const PlanOptions& o);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_PLAN_H_
