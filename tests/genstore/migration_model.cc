// The migration model: hosts holding incarnations (a generation table plus page contents), a VM
// that writes pages, and pre-copy migrations with rounds, random aborts, evictions and restarts.
#include "migration_model.h"

#include <algorithm>

#include "base/uuid.h"
#include "genstore/codec_header.h"
#include "genstore/compare.h"
#include "genstore/table_codec.h"
#include "memfs/dirty_log.h"

namespace mkd::testing {
namespace {

// Contents 1..kSharedContents are an image's pages, which siblings hold too; a VM's own writes
// count up from kFirstOwnContent.
constexpr uint64_t kSharedContents = 24;
constexpr uint64_t kFirstOwnContent = 1000;
constexpr uint64_t kSiblingPages = 64;
// The finding digest of a content (XXH3-64 in the code): made to collide, 1 in 7.
uint64_t FindingDigest(uint64_t content) { return content % 7; }

struct Memory {
  GenerationTable table;
  std::vector<uint64_t> content;  // version of each page; 0 = zero page
  Epoch epoch = 0;                // the epoch the VM had when this memory was its own (stored)
};

class Model {
 public:
  Model(const ModelOptions& o, uint64_t seed, ModelStats* stats)
      : o_(o), rng_(seed), stats_(stats), hosts_(static_cast<size_t>(o.hosts)) {
    vm_.table = GenerationTable(o.pages);
    vm_.content.assign(o.pages, 0);
    dirty_ = PageBitmap(o.pages);
    // Every host runs a sibling: pages of the image and of its own.
    siblings_.resize(static_cast<size_t>(o.hosts));
    for (std::vector<uint64_t>& sib : siblings_) {
      for (uint64_t i = 0; i < kSiblingPages; ++i) {
        sib.push_back(Chance(0.5) ? 1 + rng_() % kSharedContents : ++version_);
      }
    }
  }

  std::optional<std::string> Run() {
    GuestWrites(o_.pages / 2);  // boot
    for (int m = 0; m < o_.migrations && !violation_; ++m) {
      int to = static_cast<int>(rng_() % (o_.hosts - 1));
      if (to >= current_) ++to;
      Migrate(to);
      if (!violation_ && Chance(0.3)) EvictFromAStoredIncarnation();
      if (!violation_ && Chance(0.2)) RestartAHost();
      GuestWrites(rng_() % (o_.pages / 4 + 1));
    }
    return violation_;
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<>(0, 1)(rng_) < p; }

  void GuestWrites(uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t p = rng_() % o_.pages;
      vm_.content[p] = Chance(0.25) ? 1 + rng_() % kSharedContents : ++version_;
      dirty_.Set(p);
    }
    // The siblings go on writing too.
    for (std::vector<uint64_t>& sib : siblings_) {
      if (Chance(0.3)) sib[rng_() % kSiblingPages] = 1 + rng_() % kSharedContents;
    }
  }

  // fsync on the live file: every written page gets the current epoch; the migration gets the
  // pages since its previous sync through its own dirty-log view.
  void Sync() {
    last_synced_ = TakeDirty(o_.fault == ModelFault::kSharedDirtyLog ? "" : "mig-model");
  }

  // A sync by someone else (an operator's getfattr -n user.mkd.sync): takes pages for itself.
  void ThirdPartySync() { (void)TakeDirty(""); }

  PageBitmap TakeDirty(const std::string& consumer) {
    Check(vm_.table.ApplyDirty(dirty_, epoch_).ok(), "ApplyDirty failed");
    memfs::DirtyLog::Delivery d = log_.Deliver(consumer, dirty_);
    dirty_.ClearAll();
    return std::move(d.pages);
  }

  void Check(bool ok, const std::string& what) {
    if (!ok && !violation_) violation_ = what;
  }

  void SendPage(Memory& dest, uint64_t p) {
    // Ordering: what arrives was written before the arrival's epoch.
    const Generation g = vm_.table.Get(p);
    Check(g == kGenInvalid ? false : g < arrival_epoch_,
          "page " + std::to_string(p) + " sent with generation " + std::to_string(g) +
              ", not below the arrival's epoch " + std::to_string(arrival_epoch_));
    dest.content[p] = vm_.content[p];
    Check(dest.table.SetProvisional(p, vm_.table.Get(p)).ok(), "SetProvisional failed");
    ++stats_->pages_sent;
  }

  // Reuse by content (content_index.h): up to 4 pages of host `to` whose content has the offer's
  // finding digest are tried (its stored incarnation as it is now, then its sibling); one is
  // taken only when its content is the offer's (the SHA-256 check), with the offer's generation.
  bool TakeByContent(Memory& dest, int to, uint64_t p) {
    const uint64_t offered = vm_.content[p];
    if (offered == 0) return false;  // zero pages go as ZEROS
    std::vector<uint64_t> candidates;
    for (uint64_t c : dest.content) {
      if (c != 0 && FindingDigest(c) == FindingDigest(offered)) candidates.push_back(c);
    }
    for (uint64_t c : siblings_[static_cast<size_t>(to)]) {
      if (FindingDigest(c) == FindingDigest(offered)) candidates.push_back(c);
    }
    std::shuffle(candidates.begin(), candidates.end(), rng_);
    if (candidates.size() > 4) candidates.resize(4);
    for (uint64_t c : candidates) {
      if (c != offered && o_.fault != ModelFault::kTrustFindingDigest) continue;
      const Generation g = vm_.table.Get(p);
      Check(g != kGenInvalid && g < arrival_epoch_,
            "page " + std::to_string(p) + " taken by content with generation " + std::to_string(g) +
                ", not below the arrival's epoch");
      dest.content[p] = c;
      Check(dest.table.SetProvisional(p, g).ok(), "SetProvisional failed");
      ++stats_->pages_by_content;
      return true;
    }
    return false;
  }

  void Migrate(int to) {
    std::optional<Memory>& slot = hosts_[static_cast<size_t>(to)];
    if (!slot) slot = Memory{GenerationTable(o_.pages), std::vector<uint64_t>(o_.pages, 0)};
    Memory& dest = *slot;
    arrival_epoch_ = o_.fault == ModelFault::kArrivalAtStoredEpoch && dest.epoch > 0
                         ? dest.epoch
                         : epoch_ + (o_.fault == ModelFault::kSameEpochOnArrival ? 0 : 1);
    // Ordering: epochs only move forward on a host (memfs refuses an arrival at or below).
    Check(dest.epoch == 0 || arrival_epoch_ > dest.epoch,
          "arrival on host " + std::to_string(to) + " in epoch " + std::to_string(arrival_epoch_) +
              ", not after the stored epoch " + std::to_string(dest.epoch));
    const bool abort = Chance(o_.abort_probability);
    const int rounds = 1 + static_cast<int>(rng_() % 4);
    // Where an abort strikes: 0 after the bulk copy, 1..rounds after that round, rounds + 1 at
    // switchover after the last pages (just before the commit point).
    const int abort_at = abort ? static_cast<int>(rng_() % (rounds + 2)) : -1;

    // Exchange tables right after a sync: the reuse decision must be exact at this instant.
    Sync();
    PageBitmap reusable(o_.pages), zero_fill(o_.pages);
    ReuseSummary split = ComputeReusable(vm_.table, dest.table, &reusable);
    reusable.ForEachSet([&](uint64_t p) {
      Check(dest.content[p] == vm_.content[p],
            "page " + std::to_string(p) + " reported reusable on host " + std::to_string(to) +
                " holds version " + std::to_string(dest.content[p]) + ", the VM has " +
                std::to_string(vm_.content[p]));
    });
    stats_->pages_reused += split.reusable;
    ComputeZeroFill(vm_.table, dest.table, &zero_fill);

    // Round 1: everything neither reusable nor zero (plus zero pages the destination holds
    // otherwise), interleaved with guest writes.
    for (uint64_t p = 0; p < o_.pages; ++p) {
      if (reusable.Test(p)) continue;
      if (vm_.table.Get(p) == kGenNeverWritten && !zero_fill.Test(p)) continue;
      if (!(o_.content && TakeByContent(dest, to, p))) SendPage(dest, p);
      if (Chance(0.02)) GuestWrites(1);
    }
    if (abort_at == 0) return Abort(dest);
    for (int round = 1; round <= rounds; ++round) {
      GuestWrites(rng_() % 8);
      if (Chance(0.5)) ThirdPartySync();
      GuestWrites(rng_() % 4);
      Sync();
      last_synced_.ForEachSet([&](uint64_t p) { SendPage(dest, p); });
      if (round == abort_at) return Abort(dest);
    }
    // Switchover: the VM is stopped; last sync, last pages, commit.
    GuestWrites(rng_() % 4);
    if (Chance(0.5)) ThirdPartySync();
    if (o_.fault != ModelFault::kNoFinalSync) {
      Sync();
      last_synced_.ForEachSet([&](uint64_t p) { SendPage(dest, p); });
    }
    if (abort_at == rounds + 1) return Abort(dest);
    dest.table.CommitProvisional();
    Check(o_.fault != ModelFault::kNone || dest.table == vm_.table,
          "after commit the destination table differs from the VM's");
    for (uint64_t p = 0; p < o_.pages; ++p) {
      if (dest.content[p] != vm_.content[p]) {
        Check(false, "after commit on host " + std::to_string(to) + " page " + std::to_string(p) +
                         " holds version " + std::to_string(dest.content[p]) + ", the VM has " +
                         std::to_string(vm_.content[p]));
        break;
      }
    }
    // The source keeps what the VM left as its incarnation there; the VM lives on at `to`.
    hosts_[static_cast<size_t>(current_)] = vm_;
    hosts_[static_cast<size_t>(current_)]->epoch = epoch_;
    vm_.table = dest.table;
    vm_.content = dest.content;
    slot.reset();  // the live memory is vm_ now
    current_ = to;
    epoch_ = arrival_epoch_;
    ++stats_->migrations_committed;
  }

  void Abort(Memory& dest) {
    if (o_.fault == ModelFault::kAbortKeepsProvisional) {
      dest.table.CommitProvisional();
    } else {
      dest.table.AbortProvisional();
    }
    ++stats_->migrations_aborted;
  }

  void EvictFromAStoredIncarnation() {
    size_t h = rng_() % hosts_.size();
    if (!hosts_[h]) return;
    uint64_t first = rng_() % o_.pages;
    uint64_t count = 1 + rng_() % std::min<uint64_t>(16, o_.pages - first);
    if (o_.fault != ModelFault::kFreeWithoutInvalidate) {
      Check(hosts_[h]->table.Invalidate(first, count).ok(), "Invalidate failed");
    }
    for (uint64_t p = first; p < first + count; ++p) hosts_[h]->content[p] = 0;  // punched
  }

  // A host daemon restarts: its stored tables come back from their encoding.
  void RestartAHost() {
    size_t h = rng_() % hosts_.size();
    if (!hosts_[h]) return;
    std::string bytes = EncodeTable(CodecHeader{vm_id_, "ram", epoch_, 0}, hosts_[h]->table);
    Result<DecodedTable> back = DecodeTable(bytes);
    Check(back.ok(), "stored table did not decode after restart");
    if (back.ok()) hosts_[h]->table = std::move(back->table);
    ++stats_->restarts;
  }

  ModelOptions o_;
  std::mt19937_64 rng_;
  ModelStats* stats_;
  Uuid vm_id_ = Uuid::Random();
  std::vector<std::optional<Memory>> hosts_;  // stored incarnations; empty at the VM's host
  std::vector<std::vector<uint64_t>> siblings_;  // the contents of each host's sibling VM
  Memory vm_;                                 // the live memory of the VM
  PageBitmap dirty_, last_synced_;
  memfs::DirtyLog log_;
  Epoch epoch_ = kFirstEpoch;
  Epoch arrival_epoch_ = kFirstEpoch + 1;
  int current_ = 0;
  uint64_t version_ = kFirstOwnContent;
  std::optional<std::string> violation_;
};

}  // namespace

std::optional<std::string> RunMigrationModel(const ModelOptions& options, uint64_t seed,
                                             ModelStats* stats) {
  ModelStats ignored;
  return Model(options, seed, stats ? stats : &ignored).Run();
}

}  // namespace mkd::testing
