// Block: state, dirty tracking and page-store I/O of one RAM block (see block.h).
#include "memfs/block.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>
#include <span>
#include <utility>

#include "genstore/digests.h"
#include "genstore/zero_page.h"

namespace mkd::memfs {
namespace {

constexpr uint64_t kPage = kPageSize;
// Pages read at a time by the digest passes (1 MiB).
constexpr uint64_t kScanPages = 256;

}  // namespace

Block::Block(IncarnationMeta meta, GenerationTable table, PageFile file)
    : meta_(std::move(meta)),
      table_(std::move(table)),
      unapplied_(table_.pages()),
      dirty_since_sync_(table_.pages()),
      dirty_since_arrival_(table_.pages()),
      lost_(table_.pages()),
      file_(std::move(file)) {
  meta_.pages = table_.pages();
  if (meta_.state == IncarnationState::kIncoming) arrival_epoch_ = meta_.epoch;
}

uint64_t Block::size() const {
  std::lock_guard lock(mu_);
  return table_.pages() * kPage;
}

int Block::SetSize(uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (bytes % kPage != 0 || bytes / kPage > kMaxPages) return -EINVAL;
  const uint64_t pages = bytes / kPage;
  if (pages == table_.pages()) return 0;
  if (table_.pages() != 0) return -EPERM;
  if (meta_.state == IncarnationState::kStored) return -EROFS;
  if (int rc = file_.Resize(pages); rc < 0) return rc;
  table_ = GenerationTable(pages);
  unapplied_ = PageBitmap(pages);
  dirty_since_sync_ = PageBitmap(pages);
  dirty_since_arrival_ = PageBitmap(pages);
  lost_ = PageBitmap(pages);
  meta_.pages = pages;
  return 0;
}

int Block::CheckLiveWriteLocked(uint64_t offset, size_t size) const {
  if (meta_.state != IncarnationState::kLive) return -EROFS;
  const uint64_t end = table_.pages() * kPage;
  if (offset > end || size > end - offset) return -EFBIG;
  return 0;
}

void Block::MarkWrittenLocked(uint64_t first, uint64_t count, bool ok) {
  dirty_since_sync_.SetRange(first, count);
  dirty_since_arrival_.SetRange(first, count);
  if (ok) {
    lost_.ClearRange(first, count);
    unapplied_.SetRange(first, count);
  } else {
    // The page store may hold anything for these pages now: never serve or reuse them.
    lost_.SetRange(first, count);
    unapplied_.ClearRange(first, count);
    (void)table_.Invalidate(first, count);
  }
}

int Block::Write(uint64_t offset, const void* data, size_t size) {
  std::shared_ptr<Postcopy> pc;
  {
    std::lock_guard lock(mu_);
    ++counters_.write_requests;
    if (int rc = CheckLiveWriteLocked(offset, size); rc < 0) {
      if (meta_.state == IncarnationState::kIncoming) ++counters_.refused_writes;
      return rc;
    }
    pc = postcopy_;
  }
  if (size == 0) return 0;
  if (int rc = ClaimForWrite(pc.get(), offset, size); rc < 0) return rc;
  const char* bytes = static_cast<const char*>(data);
  uint64_t page = offset / kPage;
  size_t in_page = offset % kPage;
  // A partial first page, whole pages, a partial last page.
  if (in_page != 0 || size < kPage) {
    size_t n = std::min<size_t>(kPage - in_page, size);
    if (int rc = WritePartialPage(page, in_page, bytes, n); rc < 0) return rc;
    bytes += n;
    size -= n;
    ++page;
  }
  const uint64_t whole = size / kPage;
  if (whole > 0) {
    uint64_t zero = 0;
    int rc = file_.WritePages(page, whole, bytes, &zero);
    std::lock_guard lock(mu_);
    MarkWrittenLocked(page, whole, rc == 0);
    if (rc < 0) return rc;
    counters_.pages_written += whole - zero;
    counters_.zero_pages_written += zero;
    bytes += whole * kPage;
    size -= whole * kPage;
    page += whole;
  }
  if (size > 0) return WritePartialPage(page, 0, bytes, size);
  return 0;
}

int Block::ClaimForWrite(Postcopy* pc, uint64_t offset, uint64_t size) {
  if (pc == nullptr || !pc->active() || size == 0) return 0;
  const uint64_t first = offset / kPage;
  const uint64_t last = (offset + size - 1) / kPage;
  // A partial page needs its old content, which is still at the source.
  if ((offset % kPage != 0 && pc->IsMissing(first)) ||
      ((offset + size) % kPage != 0 && pc->IsMissing(last))) {
    return -EIO;
  }
  pc->Claim(first, last - first + 1);
  return 0;
}

int Block::WritePartialPage(uint64_t page, size_t in_page, const void* data, size_t size) {
  std::lock_guard rmw(rmw_mu_);
  alignas(64) char buf[kPage];
  int rc = file_.ReadPages(page, 1, buf);
  if (rc == 0) {
    std::memcpy(buf + in_page, data, size);
    rc = file_.WritePages(page, 1, buf);
  }
  std::lock_guard lock(mu_);
  MarkWrittenLocked(page, 1, rc == 0);
  if (rc < 0) return rc;
  (IsZeroPage(buf) ? counters_.zero_pages_written : counters_.pages_written) += 1;
  return 0;
}

int64_t Block::CheckRead(uint64_t offset, size_t size, std::shared_ptr<Postcopy>* postcopy) const {
  std::lock_guard lock(mu_);
  if (postcopy != nullptr) *postcopy = postcopy_;
  const uint64_t end = table_.pages() * kPage;
  if (offset >= end || size == 0) return 0;
  const uint64_t n = std::min<uint64_t>(size, end - offset);
  const uint64_t first = offset / kPage;
  const uint64_t last = (offset + n - 1) / kPage;
  const bool stored = meta_.state == IncarnationState::kStored;
  for (uint64_t p = first; p <= last; ++p) {
    if (lost_.Test(p)) return -EIO;
    if (stored && table_.Get(p) == kGenInvalid) return -EIO;
  }
  return static_cast<int64_t>(n);
}

int Block::Punch(uint64_t offset, uint64_t length) {
  if (int rc = ClaimForWrite(postcopy().get(), offset, length); rc < 0) return rc;
  std::lock_guard lock(mu_);
  if (meta_.state == IncarnationState::kIncoming) return -EROFS;
  const uint64_t end = table_.pages() * kPage;
  if (offset >= end || length == 0) return 0;
  length = std::min(length, end - offset);
  const uint64_t first = (offset + kPage - 1) / kPage;  // first whole page
  const uint64_t stop = (offset + length) / kPage;      // one past the last whole page
  // Partial pages at the ends: their bytes become zero, which is a write in the live state.
  auto zero_part = [&](uint64_t from, uint64_t to) -> int {
    if (from >= to) return 0;
    const uint64_t page = from / kPage;
    alignas(64) char buf[kPage];
    int rc = file_.ReadPages(page, 1, buf);
    if (rc == 0) {
      std::memset(buf + from % kPage, 0, to - from);
      rc = file_.WritePages(page, 1, buf);
    }
    if (meta_.state == IncarnationState::kLive) {
      MarkWrittenLocked(page, 1, rc == 0);
    } else {
      (void)table_.Invalidate(page, 1);  // a stored page changed: no longer the VM's content
    }
    return rc;
  };
  if (first > stop) return zero_part(offset, offset + length);  // within one page
  if (int rc = zero_part(offset, first * kPage); rc < 0) return rc;
  if (stop > first) {
    ApplyPendingLocked();
    // Invalidate first: if freeing fails half-way, no page claims content it no longer has.
    if (Status s = table_.Invalidate(first, stop - first); !s.ok()) return -EINVAL;
    for (uint64_t p = first; p < stop; ++p) {
      lost_.Clear(p);
      dirty_since_sync_.Set(p);
      dirty_since_arrival_.Set(p);
    }
    if (int rc = file_.PunchPages(first, stop - first); rc < 0) return rc;
    counters_.pages_punched += stop - first;
  }
  return zero_part(stop * kPage, offset + length);
}

void Block::ApplyPendingLocked() const {
  if (unapplied_.pages() == 0 || !unapplied_.Any()) return;
  // A live block never has provisional pages, so ApplyDirty cannot fail here.
  Status s = table_.ApplyDirty(unapplied_, meta_.epoch);
  if (s.ok()) unapplied_.ClearAll();
}

PageBitmap Block::TakeDirtySinceSync() {
  std::lock_guard lock(mu_);
  PageBitmap out(table_.pages());
  std::swap(out, dirty_since_sync_);
  ++counters_.syncs;
  return out;
}

PageBitmap Block::DirtySinceArrival() const {
  std::lock_guard lock(mu_);
  return dirty_since_arrival_;
}

Status Block::CheckReceiveLocked(uint64_t first, uint64_t count, Generation gen,
                                 std::string_view what) const {
  if (meta_.state != IncarnationState::kIncoming) {
    return Status::FailedPrecondition("block is " + std::string(IncarnationStateName(meta_.state)) +
                                      ", not incoming: " + std::string(what) + " refused");
  }
  if (gen >= arrival_epoch_) {
    // The source's pages were written in its epochs, all before the arrival's: a generation at
    // or above it would later pass for a page written here (docs/security.md, ordering).
    return Status::InvalidArgument(std::string(what) + " with generation " + std::to_string(gen) +
                                   ": not before the arrival's epoch " +
                                   std::to_string(arrival_epoch_));
  }
  if (first > table_.pages() || count > table_.pages() - first) {
    return Status::OutOfRange(std::string(what) + " " + std::to_string(first) + "+" +
                              std::to_string(count) + " are outside the block of " +
                              std::to_string(table_.pages()) + " pages");
  }
  return Status::Ok();
}

Status Block::ReceivePages(uint64_t first, uint64_t count, const void* data, Generation gen) {
  {
    std::lock_guard lock(mu_);
    MKD_RETURN_IF_ERROR(CheckReceiveLocked(first, count, gen, "pages"));
    // Invalid first: until the content is written, the page is not the base's any more.
    MKD_RETURN_IF_ERROR(table_.Invalidate(first, count));
  }
  int rc = file_.WritePages(first, count, data);
  if (rc < 0) {
    return Status::Io("page store: writing received pages: " + std::string(std::strerror(-rc)));
  }
  std::lock_guard lock(mu_);
  for (uint64_t p = first; p < first + count; ++p) {
    MKD_RETURN_IF_ERROR(table_.SetProvisional(p, gen));
    lost_.Clear(p);
  }
  if (later_.pages() > 0) later_.ClearRange(first, count);
  counters_.pages_received += count;
  return Status::Ok();
}

Status Block::ReceiveZero(uint64_t first, uint64_t count, Generation gen) {
  if (gen == kGenInvalid) {
    return Status::InvalidArgument("zero pages cannot be received with the invalid generation");
  }
  {
    std::lock_guard lock(mu_);
    MKD_RETURN_IF_ERROR(CheckReceiveLocked(first, count, gen, "zero pages"));
    MKD_RETURN_IF_ERROR(table_.Invalidate(first, count));
  }
  if (int rc = file_.PunchPages(first, count); rc < 0) {
    return Status::Io("page store: freeing pages: " + std::string(std::strerror(-rc)));
  }
  std::lock_guard lock(mu_);
  for (uint64_t p = first; p < first + count; ++p) {
    MKD_RETURN_IF_ERROR(table_.SetProvisional(p, gen));
    lost_.Clear(p);
  }
  if (later_.pages() > 0) later_.ClearRange(first, count);
  return Status::Ok();
}

Status Block::ReceiveLater(uint64_t first, uint64_t count, Generation gen) {
  if (gen == kGenInvalid || gen == kGenNeverWritten) {
    return Status::InvalidArgument(
        "pages that come after the commit need a real generation (not 0 or invalid)");
  }
  std::lock_guard lock(mu_);
  MKD_RETURN_IF_ERROR(CheckReceiveLocked(first, count, gen, "later pages"));
  if (later_.pages() != table_.pages()) later_ = PageBitmap(table_.pages());
  for (uint64_t p = first; p < first + count; ++p) {
    MKD_RETURN_IF_ERROR(table_.SetProvisional(p, gen));
    lost_.Clear(p);
  }
  later_.SetRange(first, count);
  return Status::Ok();
}

Status Block::AdvanceEpoch(Epoch epoch) {
  std::lock_guard lock(mu_);
  if (meta_.state != IncarnationState::kLive) {
    return Status::FailedPrecondition(
        "advance: block is " + std::string(IncarnationStateName(meta_.state)) + ", not live");
  }
  if (!IsValidEpoch(epoch) || epoch <= meta_.epoch || epoch - meta_.epoch > kMaxAdvanceStep ||
      epoch > kMaxEpoch - kEpochHeadroom) {
    return Status::InvalidArgument("advance: epoch " + std::to_string(epoch) + " is not within " +
                                   std::to_string(kMaxAdvanceStep) + " after the current epoch " +
                                   std::to_string(meta_.epoch) +
                                   " (or leaves no room for the VM's next migrations)");
  }
  ApplyPendingLocked();  // what was written so far belongs to the current epoch
  meta_.epoch = epoch;
  return Status::Ok();
}

Status Block::Commit(Epoch epoch, std::chrono::milliseconds lease) {
  std::lock_guard lock(mu_);
  if (meta_.state != IncarnationState::kIncoming) {
    return Status::FailedPrecondition(
        "commit: block is " + std::string(IncarnationStateName(meta_.state)) + ", not incoming");
  }
  if (!IsValidEpoch(epoch)) return Status::InvalidArgument("commit: invalid epoch");
  table_.CommitProvisional();
  meta_.state = IncarnationState::kLive;
  meta_.epoch = epoch;
  meta_.left_unix_ms = 0;
  dirty_since_sync_.ClearAll();
  dirty_since_arrival_.ClearAll();
  postcopy_.reset();
  if (later_.pages() > 0 && later_.Any()) {
    postcopy_ = std::make_shared<Postcopy>(std::move(later_), lease);
  }
  later_ = PageBitmap();
  return Status::Ok();
}

std::shared_ptr<Postcopy> Block::postcopy() const {
  std::lock_guard lock(mu_);
  return postcopy_;
}

std::vector<ParkedRead> Block::FailPostcopy(const std::string& reason) {
  std::lock_guard lock(mu_);
  if (!postcopy_) return {};
  PageBitmap missing;
  std::vector<ParkedRead> parked = postcopy_->Fail(reason, &missing);
  // Whatever the page store holds for them is not the VM's: never serve or reuse it.
  missing.ForEachRun([&](uint64_t first, uint64_t count) {
    lost_.SetRange(first, count);
    unapplied_.ClearRange(first, count);
    (void)table_.Invalidate(first, count);
  });
  return parked;
}

Status Block::Abort(int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  if (meta_.state != IncarnationState::kIncoming) {
    return Status::FailedPrecondition("abort: block is not incoming");
  }
  table_.AbortProvisional();
  later_ = PageBitmap();
  meta_.state = IncarnationState::kStored;
  meta_.left_unix_ms = now_unix_ms;
  return Status::Ok();
}

Status Block::Leave(int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  if (meta_.state != IncarnationState::kLive) {
    return Status::FailedPrecondition("leave: block is not live");
  }
  ApplyPendingLocked();
  meta_.state = IncarnationState::kStored;
  meta_.left_unix_ms = now_unix_ms;
  digests_.reset();  // of the content before the VM ran here
  return Status::Ok();
}

Status Block::BeginIncoming(uint64_t incarnation, Epoch epoch) {
  std::lock_guard lock(mu_);
  if (meta_.state != IncarnationState::kStored) {
    return Status::FailedPrecondition("arrival: the block is " +
                                      std::string(IncarnationStateName(meta_.state)) +
                                      "; only a stored incarnation can receive a VM");
  }
  if (!IsValidEpoch(epoch)) return Status::InvalidArgument("arrival: invalid epoch");
  arrival_epoch_ = epoch;
  meta_.key.incarnation = incarnation;
  meta_.state = IncarnationState::kIncoming;
  meta_.left_unix_ms = 0;
  digests_.reset();
  counters_ = {};
  lost_.ClearAll();
  later_ = PageBitmap();
  postcopy_.reset();
  return Status::Ok();
}

Status Block::ResetForColdBoot(const IncarnationKey& key, const Uuid& lineage) {
  std::lock_guard lock(mu_);
  const uint64_t pages = table_.pages();
  if (int rc = file_.PunchPages(0, pages); rc < 0) {
    return Status::Io("page store: freeing the old memory: " + std::string(std::strerror(-rc)));
  }
  meta_.key = key;
  meta_.lineage = lineage;
  meta_.state = IncarnationState::kLive;
  meta_.epoch = kFirstEpoch;
  meta_.left_unix_ms = 0;
  table_ = GenerationTable(pages);
  unapplied_ = PageBitmap(pages);
  dirty_since_sync_ = PageBitmap(pages);
  dirty_since_arrival_ = PageBitmap(pages);
  lost_ = PageBitmap(pages);
  counters_ = {};
  digests_.reset();
  later_ = PageBitmap();
  postcopy_.reset();
  return Status::Ok();
}

Result<uint64_t> Block::EvictColdest(uint64_t pages) {
  std::lock_guard lock(mu_);
  if (meta_.state != IncarnationState::kStored) {
    return Status::FailedPrecondition("eviction: only stored incarnations are evicted");
  }
  // Resident pages grouped by generation, oldest (lowest) first: the least recently written.
  std::map<Generation, std::vector<uint64_t>> by_gen;
  int rc = file_.ForEachResidentRun(table_.pages(), [&](uint64_t first, uint64_t count) {
    for (uint64_t p = first; p < first + count && p < table_.pages(); ++p) {
      by_gen[table_.Get(p)].push_back(p);
    }
  });
  if (rc < 0)
    return Status::Io("page store: listing resident pages: " + std::string(strerror(-rc)));
  // Invalid pages hold memory for nothing: they go first.
  std::vector<uint64_t> victims;
  if (auto it = by_gen.find(kGenInvalid); it != by_gen.end()) {
    victims = std::move(it->second);
    by_gen.erase(it);
  }
  for (auto& [gen, list] : by_gen) {
    if (victims.size() >= pages) break;
    victims.insert(victims.end(), list.begin(), list.end());
  }
  if (victims.size() > pages) victims.resize(pages);
  std::sort(victims.begin(), victims.end());
  for (uint64_t p : victims) MKD_RETURN_IF_ERROR(table_.Invalidate(p, 1));
  // Free in runs of consecutive pages.
  size_t i = 0;
  while (i < victims.size()) {
    size_t j = i + 1;
    while (j < victims.size() && victims[j] == victims[j - 1] + 1) ++j;
    if (int prc = file_.PunchPages(victims[i], j - i); prc < 0) {
      return Status::Io("page store: freeing evicted pages: " + std::string(strerror(-prc)));
    }
    i = j;
  }
  counters_.pages_evicted += victims.size();
  return static_cast<uint64_t>(victims.size());
}

Result<PageDigests> Block::ComputeDigests() const {
  uint64_t pages = 0;
  {
    std::lock_guard lock(mu_);
    pages = table_.pages();
  }
  // No change completed since the cached digests were computed: they are the content's.
  const uint64_t changes = file_.changes();
  {
    std::lock_guard lock(digest_cache_mu_);
    if (digest_cache_ && digest_cache_changes_ == changes && digest_cache_->pages() == pages) {
      return *digest_cache_;
    }
  }
  PageDigests out(pages);
  std::vector<char> buf(kScanPages * kPage);
  std::vector<uint64_t> digests;
  int read_rc = 0;
  int rc = file_.ForEachResidentRun(pages, [&](uint64_t first, uint64_t count) {
    for (uint64_t at = first; at < first + count && read_rc == 0; at += kScanPages) {
      const uint64_t n = std::min(kScanPages, first + count - at);
      read_rc = file_.ReadPages(at, n, buf.data());
      if (read_rc < 0) return;
      digests.resize(n);
      for (uint64_t i = 0; i < n; ++i) digests[i] = PageDigest(buf.data() + i * kPage);
      out.Append(at, digests);
    }
  });
  if (rc == 0) rc = read_rc;
  if (rc < 0) return Status::Io("page store: reading for digests: " + std::string(strerror(-rc)));
  // Kept only when nothing changed while they were read (a change counts once it completed).
  if (file_.changes() == changes) {
    std::lock_guard lock(digest_cache_mu_);
    digest_cache_ = out;
    digest_cache_changes_ = changes;
  }
  return out;
}

Result<uint64_t> Block::VerifyDigests(const PageDigests& digests) {
  std::lock_guard lock(mu_);
  const uint64_t pages = table_.pages();
  if (digests.pages() != pages) {
    return Status::Corrupt("digests of " + std::to_string(digests.pages()) +
                           " pages do not match the block's " + std::to_string(pages) + " pages");
  }
  // Resident pages are compared with their digests; pages recorded with content that are holes
  // now read as zeros, which is a mismatch too.
  std::vector<uint64_t> bad;
  std::vector<std::pair<uint64_t, uint64_t>> resident;
  std::vector<char> buf(kScanPages * kPage);
  int read_rc = 0;
  int rc = file_.ForEachResidentRun(pages, [&](uint64_t first, uint64_t count) {
    resident.emplace_back(first, count);
    for (uint64_t at = first; at < first + count && read_rc == 0; at += kScanPages) {
      const uint64_t n = std::min(kScanPages, first + count - at);
      read_rc = file_.ReadPages(at, n, buf.data());
      for (uint64_t i = 0; i < n && read_rc == 0; ++i) {
        const uint64_t p = at + i;
        if (table_.Get(p) == kGenInvalid) continue;
        if (PageDigest(buf.data() + i * kPage) != digests.Get(p)) bad.push_back(p);
      }
    }
  });
  if (rc == 0) rc = read_rc;
  if (rc < 0) {
    return Status::Io("page store: reading for verification: " + std::string(strerror(-rc)));
  }
  auto is_resident = [&](uint64_t p) {
    auto it = std::upper_bound(resident.begin(), resident.end(), std::make_pair(p, UINT64_MAX));
    return it != resident.begin() && p < std::prev(it)->first + std::prev(it)->second;
  };
  digests.ForEachExtent([&](uint64_t first, std::span<const uint64_t> d) {
    for (uint64_t p = first; p < first + d.size(); ++p) {
      if (table_.Get(p) != kGenInvalid && !is_resident(p)) bad.push_back(p);
    }
  });
  for (uint64_t p : bad) {
    MKD_RETURN_IF_ERROR(table_.Invalidate(p, 1));
    (void)file_.PunchPages(p, 1);
  }
  return static_cast<uint64_t>(bad.size());
}

Block::Record Block::PersistView(int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  StampLocked(now_unix_ms);
  Record r{meta_, table_, std::nullopt};
  if (meta_.state == IncarnationState::kStored) r.digests = digests_;
  return r;
}

std::optional<Block::Record> Block::PersistStoredView(const IncarnationKey& key,
                                                      PageDigests digests, int64_t now_unix_ms) {
  std::lock_guard lock(mu_);
  if (meta_.state != IncarnationState::kStored || !(meta_.key == key) ||
      digests.pages() != table_.pages()) {
    return std::nullopt;
  }
  digests_ = std::move(digests);
  StampLocked(now_unix_ms);
  return Record{meta_, table_, digests_};
}

void Block::StampLocked(int64_t now_unix_ms) {
  ApplyPendingLocked();
  ++meta_.serial;
  meta_.updated_unix_ms = now_unix_ms;
  meta_.pages = table_.pages();
}

void Block::SetDigests(PageDigests digests) {
  std::lock_guard lock(mu_);
  digests_ = std::move(digests);
}

bool Block::has_digests() const {
  std::lock_guard lock(mu_);
  return digests_.has_value();
}

Block::RecordState Block::record_state() const {
  std::lock_guard lock(mu_);
  return record_state_;
}

void Block::SetRecordState(RecordState state) {
  std::lock_guard lock(mu_);
  record_state_ = state;
}

bool Block::ClaimFailedRecord() {
  std::lock_guard lock(mu_);
  if (record_state_ != RecordState::kFailed || dropped_) return false;
  record_state_ = RecordState::kSaving;
  return true;
}

void Block::MarkDropped() {
  std::lock_guard lock(mu_);
  dropped_ = true;
}

bool Block::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

IncarnationMeta Block::meta() const {
  std::lock_guard lock(mu_);
  ApplyPendingLocked();
  return meta_;
}

Generation Block::HighestGeneration() const {
  std::lock_guard lock(mu_);
  ApplyPendingLocked();
  Generation highest = kGenNeverWritten;
  for (Generation g : table_.generations()) {
    if (g != kGenInvalid && g > highest) highest = g;
  }
  return highest;
}

GenerationTable Block::TableSnapshot() const {
  std::lock_guard lock(mu_);
  ApplyPendingLocked();
  return table_;
}

IncarnationState Block::state() const {
  std::lock_guard lock(mu_);
  return meta_.state;
}

BlockCounters Block::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

uint64_t Block::dirty_since_sync_count() const {
  std::lock_guard lock(mu_);
  return dirty_since_sync_.Count();
}

uint64_t Block::dirty_since_arrival_count() const {
  std::lock_guard lock(mu_);
  return dirty_since_arrival_.Count();
}

void Block::CountFailedWrite() {
  std::lock_guard lock(mu_);
  ++counters_.failed_writes;
}

uint64_t Block::lost_pages() const {
  std::lock_guard lock(mu_);
  return lost_.Count();
}

}  // namespace mkd::memfs
