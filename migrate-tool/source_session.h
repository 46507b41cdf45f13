// SourceSession: the state of one migration on the source host, shared by source.cc (the
// pre-copy sequence), source_pipeline.cc (syncs, auto-converge), source_postcopy.cc (the
// post-copy switchover) and source_fail.cc (failure handling, accounting). It reaches the world
// only through its ports (source_ports.h), so unit tests drive it with fakes (source_fakes.h).
// Internal to mkd-migrate: RunSource (source.h) is the interface.
// Thread-compatible; during a post-copy the PostcopySender's thread owns the link and the RAM
// file while the session's thread drives QEMU (see FinishPostcopy).
#ifndef MKD_MIGRATE_TOOL_SOURCE_SESSION_H_
#define MKD_MIGRATE_TOOL_SOURCE_SESSION_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"
#include "migrate-tool/content_offers.h"
#include "migrate-tool/hot_pages.h"
#include "migrate-tool/page_sender.h"
#include "migrate-tool/report.h"
#include "migrate-tool/source.h"
#include "migrate-tool/source_ports.h"
#include "migrate-tool/stop_rule.h"
#include "migrate-tool/throttle_policy.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate::internal {

using Clock = std::chrono::steady_clock;

inline double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Adds the seconds of its own lifetime to *into (a stage of PipeTimes).
class StageTimer {
 public:
  explicit StageTimer(double* into) : into_(into) {}
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;
  ~StageTimer() { *into_ += Since(t0_); }

 private:
  double* into_;
  Clock::time_point t0_ = Clock::now();
};

// What the destination ends up holding for a page, as far as this migration knows.
// kContent: the destination took the page's content from a page it held (reuse by content).
enum class PageFate : uint8_t { kZero, kReused, kSent, kZeroSent, kContent };

// Rounds that send about as many pages as the one before, in a row, before the rounds stop.
inline constexpr size_t kStagnantRounds = 3;

inline constexpr uint32_t kBlock = 0;  // memory-backend-file: one shared RAM block per VM, "ram"

// Where a migration is, as far as a failure is concerned (Fail decides from it alone). It only
// moves forward, in this order.
enum class SourcePhase : uint8_t {
  // Checking the RAM file: nothing was asked of QEMU yet, a failure leaves it alone.
  kPreparing,
  // Before QEMU's migration: the VM runs here; the destination holds provisional pages only.
  kCopying,
  // QEMU's `migrate` was accepted: its stream goes to the destination and the VM pauses at
  // pre-switchover. A failure cancels it.
  kSwitchingOver,
  // The destination committed (the commit point): it holds the memory. Only its word that its
  // QEMU is stopped makes resuming the VM here safe.
  kCommitted,
  // After the commit, the destination said its QEMU did not take over and is stopped.
  kDestStopped,
  // Post-copy: the VM ran at the destination; this host's copy is stale, for good.
  kDestRunning,
};

std::string_view PhaseName(SourcePhase phase);

// The QEMU migration capabilities the source sets at the start (`on`) and clears on a failure
// before the commit point: x-ignore-shared, pause-before-switchover.
std::vector<qmp::CapabilitySetting> MkdCapabilities(bool on);

class SourceSession {
 public:
  // `def`: the VM (its name, uuid); `ports`: what the session runs on (null ports: opening them
  // failed; only Fail and Account may then be called).
  SourceSession(const SourceOptions& o, qemuconfig::VmDefinition def, SourcePorts ports,
                MigrationReport* r, const std::function<void(const Progress&)>& progress)
      : o_(o),
        r_(r),
        progress_(progress),
        def_(std::move(def)),
        dial_(std::move(ports.dial)),
        ram_(std::move(ports.ram)),
        monitor_(std::move(ports.monitor)),
        vm_(std::move(ports.vm)),
        libvirt_(std::move(ports.libvirt)),
        now_(std::move(ports.now)) {
    r_->from_host = o_.host_id;
    r_->to_host = o_.to_host;
    r_->reuse = o_.reuse;
    r_->throttle.enabled = o_.auto_converge;
    r_->compression.mode = std::string(CompressModeName(o_.compress));
    if (o_.compress != CompressMode::kNever) compress_.emplace(o_.compress, &r_->compression);
  }
  // Stops the digest thread (if any) and waits for it.
  ~SourceSession();
  SourceSession(const SourceSession&) = delete;
  SourceSession& operator=(const SourceSession&) = delete;

  Status Run();
  // Cleans up after a failure at any step, as the phase says; fills the outcome.
  void Fail(const Status& cause);
  // Fills the page and byte totals of the report from what was sent.
  void Account();
  SourcePhase phase() const { return phase_.load(); }

 private:
  Status Prepare();
  Status Handshake();
  // Starts this migration's view of the dirty log with a take (a sync without the write-back, at
  // once: every page written back from now on is delivered later), then the write-back
  // (StreamWriteBack) on a thread of its own.
  Status StartDirtyLog();
  // The write-back thread: writes the file back range by range (options.write_back_pages) and
  // takes each range's pages into streamed_, so that the first pass sends the pages the guest
  // dirtied before the migration as their range is written back, not after all of them.
  void StreamWriteBack();
  static constexpr uint64_t kMaxWriteBackRanges = 1024;
  // The pages the write-back delivered since the last call (nullopt: none). With `wait`, waits
  // for a delivery or the end. The error of a failed write-back.
  Result<std::optional<PageBitmap>> TakeStreamed(bool wait);
  // --verify: pages a take or sync delivered are digested again (stale_); no-op without digests.
  void MarkStale(const PageBitmap& written_back);
  bool Streaming() const;  // the write-back thread has not ended yet (or was not taken)
  // Reads the table and the reusable pages; marks never-written and reusable pages' fate, sends
  // ZEROS where the destination's base holds something for a never-written page (counted in
  // *zero_pages) and returns the pages the destination lacks. With `wait_for_write_back` the
  // write-back ends before the table is read (its pages are then in the table); without, the
  // first pass sends the write-back's pages as they come (SendPages).
  Result<PageBitmap> Classify(uint64_t* zero_pages, bool wait_for_write_back);
  // The pages of the sync started by StartSync (waiting for it), or of a sync now; the time
  // waited is added to the report's pipe.sync. Every started sync's pages are taken exactly
  // once: none can be lost between rounds.
  Result<PageBitmap> TimedSync();
  // Starts a sync on a thread of its own (unless one runs), so that it overlaps the sending of
  // the pages before it: the rounds then cost max(sync, send) instead of their sum. Only the
  // RAM file's sync runs there; the session's thread keeps reading pages meanwhile.
  void StartSync();
  // How long a sync started now is expected to take, to start it that long before the pages
  // before it are all sent: the last sync's time once a round's sync was timed; before that
  // (the first pass, whose write-back is no measure of one) at least kFirstSyncShare of the
  // time since the first pass's take, whose dirtied pages that sync writes back: its work grows
  // with the time it covers (docs/decisions.md, "pipe").
  double ExpectedSyncSeconds() const;
  static constexpr double kFirstSyncShare = 0.08;
  // now_(), or the epoch when the ports gave no clock.
  Clock::time_point Now() const { return now_ ? now_() : Clock::time_point{}; }
  // At the pause: the pages of a sync started before it (if any) and of a sync now.
  Result<PageBitmap> SyncAfterPause();
  // A page's generation in the table read by Classify (invalid: the current epoch).
  Generation TableGen(uint64_t page) const;
  Status FirstPass();
  Status Rounds(uint32_t max_rounds);
  // The rate pages go at: the measured one, capped by --bandwidth (0: not measured yet).
  double LinkRate() const;
  // After a round's sync: its set and interval give the round's own dirty rate.
  void NoteDirtyRate(uint64_t pages, double interval_seconds);
  bool Stagnant() const;
  // Auto-converge, at the start of each round: `dirtied_pages` were written while the round
  // before ran; the policy's throttle is applied to the vCPU threads (created at the first rise).
  // A throttle that cannot be applied is reported and the migration goes on without it.
  void Converge(uint64_t dirtied_pages);
  // The throttle group of the source QEMU's vCPU threads (query-cpus-fast), unthrottled.
  Result<std::unique_ptr<CpuThrottle>> CreateThrottle();
  // Lifts the throttle (the VM is paused, or the migration failed and it runs on here).
  void LiftThrottle();
  Status Switchover();
  // The destination's READY: its QEMU waits for the migration (it starts while pages go).
  Status AwaitReady();
  // QEMU's migration into the tunnel, up to pre-switchover (the VM is paused from then on).
  Status StartSwitchover();
  // --verify: our digests against the destination's (after a post-copy: skipping the pages the
  // VM wrote there since the commit).
  Status Verify(bool after_postcopy);
  // Stops the source QEMU once the VM runs at the destination.
  void RetireSource();
  // Post-copy (source_postcopy.cc): a sync while the VM runs, so that the one at the pause is
  // short; at the pause, the pages the destination lacks (LATER); after the commit, the
  // sender loop alongside QEMU's switchover, then --verify once every page arrived.
  Status PreSync();
  // Post-copy with reuse by content, in PreSync while the VM still runs: offers the missing
  // pages by content as a first pass would (OfferPageRange, offers_'s window and stop rule), but
  // sends none: the pages the destination takes, and the zero pages (ZEROS), leave missing_; the
  // ones it asks for stay missing and are pushed after the switchover as before. A page the
  // guest writes after its offer is missing again at the pause (its sync reports it).
  Status OfferMissing();
  Status PostcopyMissing();
  Status FinishPostcopy();
  // --verify: memfs's digests of the page store, on a thread of its own, from the dirty log's
  // start on, while the first pass goes on; every set taken from then on (TakeStreamed,
  // TimedSync) marks its pages stale.
  void StartDigests();
  // --verify: takes the digest thread's work (waiting for it), then reads and digests every page
  // whose digest is stale. Run before the pause, so that the pause reads only the pages written
  // since; and in Verify, where it yields our digest of every page as the guest sees it.
  Status RefreshDigests();
  // Sizes digests_ and stale_ for the VM's pages; every page stale or none.
  void ResetDigests(bool all_stale);
  // Compares with the destination's DIGESTS frame; after a post-copy also reads its DIRTY frame
  // and skips the pages the VM wrote there since the commit.
  Status CompareDigests(const std::vector<uint64_t>& ours, bool skip_written_there);
  Status Commit();
  Status Finish();
  // Sends the pages set in `pages` (their current content read through the mount); `gen_of`
  // gives each page's generation. With `overlap_sync`, the next round's sync starts when what
  // is left to send would take about as long as the last sync did. While the write-back thread
  // runs, its pages join `pages` as they come (with `gen_of`'s generation: the first pass's
  // TableGen, the VM's epoch for a page written since); a page it delivers after it was sent is
  // sent again. It returns once every page went and the write-back ended.
  // With `offer` (the first pass), pages are offered by content while offers_ says it pays
  // (OfferPageRange), and it returns once every offer was answered and what was asked for went.
  Status SendPages(const PageBitmap& pages, const std::function<Generation(uint64_t)>& gen_of,
                   const std::string& phase, bool overlap_sync = false, bool offer = false);
  // Reuse by content (source_content.cc): reads pages [first, first + count) into `buf`, queues
  // ZEROS for the zero ones and adds the others (digests of their content now) to the OFFER
  // being gathered, which is queued (FlushOffer) once it holds ContentOffers::kBatchPages pages,
  // before any other frame of pages, and before a page at or below its last one is added: frames
  // leave in the order their pages were read, whatever ranges they came in (a guest's scattered
  // writes would otherwise make an OFFER of one page each).
  Status OfferPageRange(uint64_t first, uint64_t count, char* buf,
                        const std::function<Generation(uint64_t)>& gen_of,
                        const std::function<void(const SentRun&)>& on_sent);
  Status FlushOffer();
  // Takes the destination's NEEDs that came already, and waits for more (after a flush) until
  // at most `keep` offered pages await theirs; sends the pages they ask for, read now into `buf`
  // (kMaxPagesPerFrame pages). A READY that comes meanwhile is remembered for AwaitReady.
  // Post-copy's OfferMissing (`send_needed` false): nothing is sent; the pages taken leave
  // missing_, the ones asked for stay in it.
  Status AnswerNeeds(uint64_t keep, const std::function<Generation(uint64_t)>& gen_of,
                     const std::function<void(const SentRun&)>& on_sent, char* buf,
                     bool send_needed = true);
  Status SendZeros(uint64_t first, uint64_t count, Generation gen);
  // Records a frame of pages sent (fate and counters).
  void Sent(const SentRun& run);
  // One look at QEMU's migration: its info once in one of `states`, nullopt before, an error
  // when it failed or libvirt's migration ended first. Answers equal to `stale` (status and
  // total time: what QEMU said before this migration began) are not this migration's until
  // another came (*fresh).
  Result<std::optional<qmp::MigrationInfo>> CheckMigration(const std::vector<std::string>& states,
                                                           const qmp::MigrationInfo* stale,
                                                           bool* fresh);
  // CheckMigration every 5 ms until one of `states` (an error after --timeout).
  Result<qmp::MigrationInfo> WaitMigration(const std::vector<std::string>& states,
                                           const qmp::MigrationInfo* stale = nullptr);
  // A libvirt domain: `virsh migrate` starts (after READY, with the stream tunnel open and
  // holding) about kLibvirtLeadSeconds before our copying is expected to end, so that libvirt
  // starts the destination's QEMU while the pages go (about a second, during which the VM runs
  // on here). LibvirtDue says whether it is time, given the seconds of sending left.
  static constexpr double kLibvirtLeadSeconds = 0.8;
  bool LibvirtDue(double seconds_left) const;
  Status StartLibvirt();
  // Whether QEMU's migration, started by libvirt, has paused the VM already.
  Result<bool> LibvirtPaused();
  // A libvirt domain, after virsh migrate started: rounds until QEMU paused the VM.
  Status RoundsUntilLibvirtPauses();
  // WAIT_RUNNING, and the destination's RESULT: whether its QEMU runs the VM (the report's
  // downtime until then).
  Result<Frame> AskRunning();
  void Report(const std::string& phase, uint64_t done, uint64_t total);
  uint64_t WireBytes() const;

  // Post-copy after pre-copy rounds: every page was sent once before the pause.
  bool Precopied() const { return o_.precopy_rounds > 0; }

  const SourceOptions& o_;
  MigrationReport* r_;
  const std::function<void(const Progress&)>& progress_;
  Clock::time_point start_ = Clock::now();
  qemuconfig::VmDefinition def_;
  std::function<Result<std::shared_ptr<PeerLink>>()> dial_;
  std::shared_ptr<SourceRam> ram_;
  std::shared_ptr<VmMonitor> monitor_;
  std::shared_ptr<SourceVm> vm_;
  std::shared_ptr<DomainMigration> libvirt_;  // a libvirt domain: libvirt drives QEMU's migration
  bool libvirt_started_ = false;              // StartLibvirt ran virsh (Fail cancels its job)
  std::optional<qmp::MigrationInfo> libvirt_before_;  // QEMU's migration info before virsh
  bool libvirt_fresh_ = false;  // QEMU answered about libvirt's migration (CheckMigration)
  std::function<Clock::time_point()> now_;    // SourcePorts::now
  RamFileSummary summary_;
  std::shared_ptr<PeerLink> ch_;
  std::unique_ptr<QemuStream> tunnel_;
  GenerationTable table_, peer_table_;
  std::string peer_table_blob_;
  PageBitmap reusable_;
  std::vector<PageFate> fate_;
  ContentOffers offers_{false};  // reuse by content: set up by Handshake
  std::vector<OfferEntry> pending_offer_;  // the OFFER being gathered (OfferPageRange)
  bool ready_early_ = false;     // READY came while AnswerNeeds waited for NEEDs
  // --verify: our digest of each page (digests_), valid unless set in stale_. Digests are taken
  // by the digest thread (from its start on, every sync set TimedSync takes marks its pages
  // stale) and by RefreshDigests on the session's thread, so a page written after its digest was
  // taken is stale by the time the pause's sync was taken.
  std::vector<uint64_t> digests_;
  PageBitmap stale_;
  std::future<Status> digest_job_;  // StartDigests' thread: writes digests_ until taken
  double send_rate_ = 0;  // bytes/s measured while sending pages
  struct TimedPages {
    Status status;  // the sync's error; pages only when ok
    PageBitmap pages;
    double seconds = 0;
    Clock::time_point cut{};  // on now_: when the sync started (pages written after may be in it)
  };
  std::optional<ThrottlePolicy> policy_;
  std::unique_ptr<CpuThrottle> throttle_;
  Clock::time_point throttled_since_{};
  uint32_t rounds_at_max_throttle_ = 0;  // rounds since the throttle reached --max-throttle
  std::future<TimedPages> next_sync_;    // StartSync's, until TimedSync takes it
  double last_sync_seconds_ = 0.05;      // how long the last sync took (a guess until timed)
  bool sync_timed_ = false;              // TimedSync took a sync: last_sync_seconds_ is measured
  std::optional<Clock::time_point> first_take_;  // on now_: StartDirtyLog's take
  // The write-back thread (StreamWriteBack) and what it delivered, under stream_mu_.
  std::future<void> stream_job_;
  mutable std::mutex stream_mu_;
  std::condition_variable stream_cv_;
  PageBitmap streamed_;        // delivered, not taken by TakeStreamed yet
  bool streamed_any_ = false;  // streamed_ has a page
  bool stream_done_ = false;   // the thread ended (stream_status_ says how)
  Status stream_status_;
  Clock::time_point stream_cut_{};          // on now_: when its last take started
  double stream_seconds_ = 0;               // how long it ran
  std::atomic<bool> stream_cancel_{false};  // the session ends: the thread stops
  // On now_: the cuts of the last two syncs taken (the stop rule's interval); set once taken.
  std::optional<Clock::time_point> last_cut_, prev_cut_;
  // The own dirty rates (set over interval, pages/s) of the last round and the one before it
  // (the stop rule's earlier rate); NoteDirtyRate moves them along.
  double last_dirty_rate_ = 0, earlier_dirty_rate_ = 0;
  // Set by the session's thread, and by the PostcopySender's (kDestRunning) while it runs.
  std::atomic<SourcePhase> phase_{SourcePhase::kPreparing};
  std::optional<HotPages> hot_;           // pre-copy rounds: pages held back for the pause
  std::optional<FrameCompression> compress_;  // --compress auto/always: PAGES_Z frames
  PageBitmap written_back_early_;         // what the first pass's write-back delivered
  PageBitmap missing_;                    // post-copy: pages the destination lacks at the pause
  std::vector<Generation> missing_gens_;  // ... and their generations
  std::string postcopy_marker_;           // file that tells `recover` not to resume here
  bool postcopy_complete_ = false;        // the destination said it holds every page
  Clock::time_point paused_at_{};
};

// RunSource over given ports: runs a session, Fail on an error (also when opening the ports
// failed: `ports` holds that error), then Account. Tests pass fakes.
Status RunSourceWith(const SourceOptions& options, qemuconfig::VmDefinition def,
                     Result<SourcePorts> ports, MigrationReport* report,
                     const std::function<void(const Progress&)>& progress);

// `mkd-migrate recover` once QEMU's monitor is reached (source_recover.cc): cancels a migration
// QEMU still runs and resumes the VM unless QEMU completed it (or `force`). `released` says what
// was done to a leftover throttle ("" for nothing).
Status RecoverWithMonitor(VmMonitor& monitor, std::chrono::milliseconds timeout, bool force,
                          const std::string& released, std::string* what);

}  // namespace mkd::migrate::internal

#endif  // MKD_MIGRATE_TOOL_SOURCE_SESSION_H_
