// Fakes of the source's ports (source_ports.h), for unit tests only: a RAM file held in memory,
// a QEMU monitor that follows QEMU 7.2's migration states, a peer link with a scripted
// destination (FakeDestination) that keeps its own copy of the VM's memory, and a QEMU process
// whose stream and throttle only record what was asked of them. Each records what the session
// did, so tests assert the VM's fate, the frames the destination saw and the report.
//
// The fakes touch nothing outside the process (the session itself writes the post-copy marker
// into options.tunnel_dir: tests point it to a temp dir). Thread safety: FakeLink and FakeRam
// take a mutex (the session's sync thread and the PostcopySender's thread use them); the others
// are used from one thread.
#ifndef MKD_MIGRATE_TOOL_SOURCE_FAKES_H_
#define MKD_MIGRATE_TOOL_SOURCE_FAKES_H_

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/uuid.h"
#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"
#include "migrate-tool/source_ports.h"

namespace mkd::migrate::fakes {

// A clock for SourcePorts::now that moves only when told (thread-safe: the session's sync
// thread reads it).
class FakeClock {
 public:
  std::chrono::steady_clock::time_point Now() const {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  void Advance(double seconds) { ns_ += static_cast<int64_t>(seconds * 1e9); }

 private:
  std::atomic<int64_t> ns_{0};
};

// The VM's RAM file: `pages` pages of content, a generation table, and the bitmaps the syncs
// return one after another (then empty ones).
class FakeRam final : public SourceRam {
 public:
  FakeRam(uint64_t pages, Epoch epoch);

  // What the test sets up.
  RamFileSummary summary;
  std::string content;           // pages * kPageSize bytes: the guest's memory
  std::optional<std::string> store;  // memfs's page store, when it differs (not written back)
  GenerationTable table;         // of the source
  PageBitmap reusable;           // what Reusable returns (memfs's answer)
  std::deque<PageBitmap> syncs;  // what the next syncs return; then no page
  std::deque<PageBitmap> takes;  // what the next takes (syncs without write-back) return
  // Called by each take, with its number (1: the first), after the write-back thread took its
  // cut, without the fake's lock (as on_sync).
  std::function<void(int)> on_take;
  // Called by each WriteBack (on the session's write-back thread), without the fake's lock.
  std::function<void(uint64_t first, uint64_t count)> on_write_back;
  Status sync_error;             // every sync fails with it once set
  Status advance_error;
  // Called by each sync, with its number (1: the first), after the sync's cut was taken, without
  // the fake's lock: a test moves its FakeClock here to say how long the sync took, or holds the
  // sync back while the session goes on.
  std::function<void(int)> on_sync;
  // Called by each ReadPages before it reads (on the session's thread).
  std::function<void(uint64_t first, uint64_t count)> on_read;
  std::optional<PostcopyStatus> postcopy;  // what Postcopy() returns (else kNotFound)

  // What the session did.
  std::optional<Epoch> advanced_to;
  int sync_count() const;
  // "take", "sync" (when it returns), "table", "write-back F+C" and "digests", in order.
  std::vector<std::string> calls() const;

  Result<RamFileSummary> Summary() override { return summary; }
  Result<PostcopyStatus> Postcopy() override;
  Result<PageBitmap> Sync() override;
  Result<PageBitmap> Take() override;
  Status WriteBack(uint64_t first, uint64_t count) override;
  // The digests of `store` now (of `content` when unset: the page store holds the guest's memory).
  Result<std::string> DigestsBlob() override;
  Result<GenerationTable> Table() override;
  Result<PageBitmap> Reusable(std::string_view peer_table_blob) override;
  Status ReadPages(uint64_t first, uint64_t count, char* out) override;
  Status Advance(Epoch epoch) override;

 private:
  // Sync and Take: counts the call, runs its hook, returns the next scripted bitmap.
  Result<PageBitmap> Next(int* done, const std::function<void(int)>& hook,
                          std::deque<PageBitmap>* script, const char* call);
  mutable std::mutex mu_;
  int syncs_done_ = 0;
  int takes_done_ = 0;
  std::vector<std::string> calls_;
};

// QEMU's monitor. The migration follows QEMU 7.2 with pause-before-switchover: `migrate` ->
// "pre-switchover" with the VM paused ("finish-migrate"); migrate-continue -> "completed" and
// "postmigrate", or, with `continue_fails`, "failed" and the VM resumed by QEMU; migrate_cancel
// -> "cancelled" and the VM resumed by QEMU (it was running before the migration).
class FakeMonitor final : public VmMonitor {
 public:
  // State (tests may set it up).
  bool is_connected = true;
  std::string run_status = "running";
  bool running = true;
  std::string migration;  // query-migrate "status"
  std::map<std::string, bool> capabilities;
  bool continue_fails = false;
  std::map<std::string, Status> refuse;  // command -> QEMU's refusal
  // Called with each command as it is logged, before it takes effect; also with "query-migrate"
  // for each QueryMigrate (not logged).
  std::function<void(const std::string&)> on_command;

  // Every command in order: "migrate unix:/...", "migrate-continue", "cont", "close", ...
  std::vector<std::string> log;
  bool Did(const std::string& command) const;

  bool connected() const override { return is_connected; }
  void Close() override;
  Result<qmp::VmStatus> QueryStatus() override;
  Result<qmp::MigrationInfo> QueryMigrate() override;
  Result<std::vector<qmp::VcpuInfo>> QueryCpusFast() override;
  Status SetCapabilities(const std::vector<qmp::CapabilitySetting>& settings) override;
  Status SetMaxBandwidth(uint64_t bytes_per_second) override;
  Status Migrate(std::string_view uri) override;
  Status MigrateContinue() override;
  Status MigrateCancel() override;
  Status Cont() override;

 private:
  Status Command(const std::string& name);
};

// The link. Frames the session sends go to `on_frame` (the destination's script), which answers
// with Reply(). A receive with nothing to read fails like a silent peer past --timeout; once
// GoDown() was called every call fails like a broken connection. Byte counts as Channel's:
// header and payload of every frame.
class FakeLink final : public PeerLink {
 public:
  explicit FakeLink(std::function<void(const Frame&)> on_frame) : on_frame_(std::move(on_frame)) {}

  void Reply(FrameType type, std::string payload);
  void GoDown();
  std::vector<Frame> sent() const;

  Status Send(FrameType type, std::string_view head, std::string_view body) override;
  Status Queue(FrameType type, std::string_view head, std::string_view body) override;
  Status Flush() override;
  Result<Frame> Receive() override;
  bool Readable(std::chrono::milliseconds wait) override;
  uint64_t Unacked() const override { return 0; }
  std::optional<peer::TcpSendTimes> SendTimes() const override { return send_times; }
  std::optional<peer::TcpSendTimes> send_times;  // what SendTimes reports
  void SetBandwidth(uint64_t) override {}
  void SetTimeout(std::chrono::milliseconds) override {}
  const std::string& peer_host() const override { return peer_; }
  uint64_t bytes_sent() const override;
  uint64_t bytes_received() const override;

 private:
  Status Down() const;

  std::function<void(const Frame&)> on_frame_;
  mutable std::mutex mu_;
  std::deque<Frame> inbox_;
  std::vector<Frame> sent_;
  bool down_ = false;
  uint64_t bytes_sent_ = 0, bytes_received_ = 0;
  std::string peer_ = "dst";
};

// The destination's `mkd-migrate serve`, as the source sees it: answers HELLO with its table and
// READY, keeps its copy of the VM's memory from PAGES and ZEROS (so VERIFY compares real
// digests), answers COMMIT, WAIT_RUNNING and, in a post-copy, the sender's frames. Knobs make it
// fail at a step.
class FakeDestination {
 public:
  FakeDestination(const Uuid& vm, uint64_t pages);

  // Its memory before the migration (the base): reused pages must match the source's.
  std::string memory;
  GenerationTable table;  // its table, sent in TABLE

  // Knobs.
  bool postcopy = false;                     // after the commit, the post-copy conversation
  std::optional<std::string> refuse_commit;  // RESULT ok=false to COMMIT with this message
  std::optional<std::string> not_running;    // RESULT ok=false to WAIT_RUNNING (its QEMU stopped)
  // Post-copy: RESULT ok=false instead of "running" (its QEMU never took over).
  std::optional<std::string> postcopy_not_running;
  std::optional<FrameType> down_at;    // the link goes down when the source sends this frame
  int down_at_nth = 1;                 // ... the nth of them
  std::optional<FrameType> silent_at;  // no answer to this frame (a silent peer)
  std::optional<std::string> fail_after_pause;  // RESULT ok=false to the first frame of pages
                                                // after `armed` was set (e.g. memfs died)
  bool armed = false;
  bool failed = false;                   // after fail_after_pause: answers nothing any more
  std::optional<uint64_t> corrupt_page;  // its copy of this page differs (for VERIFY)
  std::optional<uint64_t> write_during_postcopy;  // the VM writes this page at the destination
  std::function<void()> on_commit;                // called as it commits
  // Reuse by content: an OFFER's page is taken when one of its pages (`memory`) has the same
  // SHA-256 and XXH3-64. With `need_extra`, its NEED asks for this page alone (not offered: a
  // protocol error).
  std::optional<uint64_t> need_extra;

  // What it saw.
  std::vector<FrameType> frames;
  bool aborted() const { return Saw(FrameType::kAbort); }
  bool committed = false;
  std::vector<GenRun> later;
  std::map<uint64_t, Generation> received_gen;  // the generation of each page's last frame
  bool Saw(FrameType type) const;
  size_t Count(FrameType type) const;

  FakeLink& link() { return *link_; }
  // SourcePorts::dial: hands out the link.
  std::function<Result<std::shared_ptr<PeerLink>>()> Dialer();

 private:
  void Handle(const Frame& f);
  void Apply(const Frame& f);

  Uuid vm_;
  uint64_t pages_;
  std::shared_ptr<FakeLink> link_;
  std::map<FrameType, int> seen_;
  PageBitmap dirty_;  // post-copy: pages the VM wrote here since the commit
};

// The source QEMU process: its stream (QEMU's bytes "sent": kStreamBytes, on the wire
// kStreamWireBytes) and its throttle record into this object, which outlives them.
class FakeVm final : public SourceVm {
 public:
  static constexpr uint64_t kStreamBytes = 1000, kStreamWireBytes = 1100;
  Status stream_join;  // what the stream's pump ends with (QEMU's stream to the destination)
  Status throttle_error;
  bool stopped = false;
  bool stream_opened = false, stream_cancelled = false;
  bool stream_held = false;                 // opened with hold (a libvirt domain)
  bool stream_released = false;             // Release() on a held stream
  std::vector<uint32_t> throttle_percents;  // every Set
  bool throttle_restored = false;           // Restore() after the last Set

  Result<std::unique_ptr<QemuStream>> OpenStream(const std::string& path, const StreamHello& hello,
                                                 bool hold) override;
  Result<std::unique_ptr<CpuThrottle>> Throttle(const std::vector<int>& tids) override;
  Status Stop() override {
    stopped = true;
    return Status::Ok();
  }
};

// libvirt's migration of the domain, over a FakeMonitor: Start runs QEMU's migration the way
// libvirt does (QEMU pauses the VM, libvirt answers pre-switchover at once: "device" with the
// VM in "finish-migrate"), unless `start_fails` or `ends_early` (libvirt gave up before QEMU's
// migration began, e.g. a hook refused). Wait returns `outcome` once the stream was released
// (the destination got the device state); Abort cancels: QEMU's migration fails, and libvirt
// resumes the VM here.
class FakeDomainMigration final : public DomainMigration {
 public:
  FakeDomainMigration(FakeMonitor* monitor, FakeVm* vm) : monitor_(monitor), vm_(vm) {}

  Status start_fails;                // Start's refusal
  std::optional<Status> ends_early;  // libvirt ends with this before QEMU's migration starts
  Status outcome;                    // what libvirt's migration ends with once released
  int queries_before_pause = 0;      // QEMU pauses only after this many query-migrate
  std::function<void()> while_starting;  // called at each of those queries (a test's clock)
  std::function<void()> on_start;        // called as Start begins
  std::vector<std::string> log;      // "start unix:///...", "wait", "abort"

  Status Start(const std::string& migrate_uri) override;
  std::optional<Status> Poll() override;
  Status Wait(std::chrono::milliseconds timeout) override;
  Status Abort() override;

 private:
  FakeMonitor* monitor_;
  FakeVm* vm_;
  std::optional<Status> done_;
};

}  // namespace mkd::migrate::fakes

#endif  // MKD_MIGRATE_TOOL_SOURCE_FAKES_H_
