// The user.mkd.* extended attributes (see xattrs.h).
#include "memfs/xattrs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>

#include "base/check.h"
#include "genstore/bitmap_codec.h"
#include "genstore/chunking.h"
#include "genstore/compare.h"
#include "genstore/digests.h"
#include "genstore/table_codec.h"
#include "memfs/arrival.h"
#include "memfs/receive_frame.h"
#include "memfs/summary.h"

namespace mkd::memfs {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The N of "<name>.N": decimal digits only; nullopt for anything else (also empty).
std::optional<uint32_t> ParseChunkIndex(std::string_view digits) {
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return v;
}

CodecHeader HeaderOf(const IncarnationMeta& m) {
  CodecHeader h;
  h.vm = m.key.vm;
  h.block = m.key.block;
  h.epoch = m.epoch;
  h.pages = m.pages;
  return h;
}

Status UnknownName(std::string_view name) {
  return Status::NotFound("no attribute " + std::string(name) + " (see docs/memfs.md)");
}

constexpr std::string_view kChunkedNames[] = {"user.mkd.table", "user.mkd.dirty", "user.mkd.synced",
                                              "user.mkd.reusable", "user.mkd.digests"};

}  // namespace

int ErrnoFor(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk:
      return 0;
    case ErrorCode::kNotFound:
      return ENODATA;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kCorrupt:
    case ErrorCode::kOutOfRange:
      return EINVAL;
    case ErrorCode::kFailedPrecondition:
      return EBUSY;
    case ErrorCode::kUnsupported:
      return ENOTSUP;
    case ErrorCode::kIo:
      return EIO;
    case ErrorCode::kPermissionDenied:
      return EACCES;
  }
  return EIO;
}

std::vector<std::string> Xattrs::List(Ino ino, const NodeRef& node) {
  std::vector<std::string> names = {"user.mkd.summary"};
  if (node.kind == NodeRef::Kind::kVm && registry_->PendingArrival(node.vm)) {
    names.push_back("user.mkd.arrive");
  }
  if (node.kind == NodeRef::Kind::kBlock) {
    names.push_back("user.mkd.table");
    names.push_back("user.mkd.dirty");
    if (std::shared_ptr<Block> b = registry_->FindBlock(ino); b && b->postcopy()) {
      names.push_back("user.mkd.postcopy");
    }
    // user.mkd.digests is not listed: computing it reads the whole page store, which an
    // innocent `getfattr -d` should not make a running VM's write-backs wait for.
    if (syncer_->LastSync(ino, "")) names.push_back("user.mkd.synced");
    std::lock_guard lock(mu_);
    auto peer = peers_.find(ino);
    if (peer != peers_.end() && peer->second.table) names.push_back("user.mkd.reusable");
  }
  return names;
}

Result<std::string> Xattrs::Chunked(Ino ino, std::string_view base, std::string_view suffix,
                                    const std::function<Result<std::string>()>& encode,
                                    bool keep_snapshot) {
  auto key = std::make_pair(ino, std::string(base));
  std::optional<uint32_t> index;
  if (!suffix.empty()) {
    index = ParseChunkIndex(suffix.substr(1));  // suffix is ".N"
    if (!index) return UnknownName(std::string(base) + std::string(suffix));
  }
  bool have_snapshot = false;
  if (keep_snapshot) {
    std::lock_guard lock(mu_);
    have_snapshot = snapshots_.count(key) != 0;
  }
  if (!index || *index == 0 || !have_snapshot) {
    Result<std::string> blob = encode();  // without mu_: encoders may take it
    if (!blob.ok()) return blob.status();
    std::vector<std::string> chunks = SplitIntoChunks(*blob);
    const size_t count = chunks.size();
    if (!keep_snapshot && index) {
      if (*index >= count) return Status::NotFound(fmt::format("{} has {} chunks", base, count));
      return std::move(chunks[*index]);
    }
    std::lock_guard lock(mu_);
    if (keep_snapshot) snapshots_[key] = std::move(chunks);
    if (!index) {
      return fmt::format(
          "chunks={} bytes={} (read {}.0 .. {}.{}; join and decode with mkd-genstore decode)",
          count, blob->size(), base, base, count - 1);
    }
  }
  std::lock_guard lock(mu_);
  const auto& chunks = snapshots_[key];
  if (*index >= chunks.size()) {
    return Status::NotFound(fmt::format("{} has {} chunks", base, chunks.size()));
  }
  return chunks[*index];
}

Result<std::string> Xattrs::GetFile(Ino ino, const NodeRef& node, std::string_view name) {
  std::shared_ptr<Block> block = registry_->FindBlock(ino);
  if (!block) return Status::NotFound("the file is gone");
  if (name == "user.mkd.summary") return BlockSummary(*block);
  if (name == "user.mkd.postcopy") return GetPostcopy(*block);
  if (IsSyncName(name)) {
    const std::string consumer(name.size() > kSyncXattr.size() ? name.substr(kSyncXattr.size() + 1)
                                                               : std::string_view());
    return RunSync(ino, node, *block, consumer);
  }
  constexpr std::string_view kSyncedOf = "user.mkd.synced.";
  if (StartsWith(name, kSyncedOf) && name.size() > kSyncedOf.size() &&
      name[kSyncedOf.size()] >= 'a' && name[kSyncedOf.size()] <= 'z') {
    // user.mkd.synced.<consumer>[.N]: the pages of that consumer's last sync. Not kept as a
    // snapshot (their number would follow the names callers make up): the value changes only
    // at that consumer's own next sync, so its chunks are read from fresh encodings of it.
    const std::string_view rest = name.substr(kSyncedOf.size());
    const size_t dot = rest.find('.');
    const std::string consumer(rest.substr(0, dot));
    return Chunked(
        ino, std::string(kSyncedOf) + consumer,
        dot == std::string_view::npos ? "" : rest.substr(dot),
        [&] { return EncodeSynced(ino, *block, consumer); }, /*keep_snapshot=*/false);
  }
  for (std::string_view base : kChunkedNames) {
    if (!StartsWith(name, base)) continue;
    std::string_view suffix = name.substr(base.size());
    if (!suffix.empty() && suffix[0] != '.') continue;
    return Chunked(ino, base, suffix, [&]() -> Result<std::string> {
      const IncarnationMeta m = block->meta();
      if (base == "user.mkd.table") return EncodeTable(HeaderOf(m), block->TableSnapshot());
      if (base == "user.mkd.dirty") return EncodeBitmap(HeaderOf(m), block->DirtySinceArrival());
      if (base == "user.mkd.digests") {
        Result<PageDigests> digests = block->ComputeDigests();
        if (!digests.ok()) return digests.status();
        return EncodeDigests(HeaderOf(m), *digests);
      }
      if (base == "user.mkd.synced") return EncodeSynced(ino, *block, "");
      // user.mkd.reusable
      std::optional<GenerationTable> peer;
      {
        std::lock_guard lock(mu_);
        auto it = peers_.find(ino);
        if (it != peers_.end()) peer = it->second.table;
      }
      if (!peer) return Status::NotFound("no peer table was set (user.mkd.peer_table.N)");
      const GenerationTable own = block->TableSnapshot();
      PageBitmap reusable(own.pages());
      ComputeReusable(own, *peer, &reusable);
      return EncodeBitmap(HeaderOf(m), reusable);
    });
  }
  return UnknownName(name);
}

Result<std::string> Xattrs::Get(Ino ino, const NodeRef& node, std::string_view name) {
  if (!StartsWith(name, kXattrPrefix)) return Status::NotFound("not a miyakodori attribute");
  switch (node.kind) {
    case NodeRef::Kind::kRoot:
      if (name == "user.mkd.summary") {
        return HostSummary(registry_->host_id(), registry_->Totals(), registry_->budget_bytes());
      }
      return UnknownName(name);
    case NodeRef::Kind::kVm: {
      if (name == "user.mkd.summary") {
        std::vector<std::pair<std::string, std::string>> states;
        for (const auto& [n, b] : registry_->Blocks(node.vm)) {
          states.emplace_back(n, std::string(IncarnationStateName(b->state())));
        }
        return VmSummary(node.vm, states, registry_->PendingArrival(node.vm));
      }
      if (name == "user.mkd.arrive") {
        std::optional<Arrival> a = registry_->PendingArrival(node.vm);
        if (!a) return Status::NotFound("no arrival is pending");
        return FormatArrival(*a);
      }
      return UnknownName(name);
    }
    case NodeRef::Kind::kBlock:
      return GetFile(ino, node, name);
  }
  return UnknownName(name);
}

Status Xattrs::SetPeerChunk(Ino ino, const NodeRef& node, std::string_view index_text,
                            std::string_view value) {
  Result<ChunkInfo> info = ParseChunk(value);
  if (!info.ok()) return info.status().WithContext("user.mkd.peer_table");
  std::optional<uint32_t> index = ParseChunkIndex(index_text);
  if (!index || *index != info->index) {
    return Status::InvalidArgument("user.mkd.peer_table." + std::string(index_text) +
                                   ": the chunk says it is chunk " + std::to_string(info->index));
  }
  std::shared_ptr<Block> block = registry_->FindBlock(ino);
  if (!block) return Status::NotFound("the file is gone");
  std::lock_guard lock(mu_);
  PeerUpload& up = peers_[ino];
  if (up.chunks.size() != info->count || *index == 0) {
    // A new upload starts with chunk 0 (or with a different chunk count).
    up.chunks.assign(info->count, std::nullopt);
    up.table.reset();
  }
  up.chunks[*index] = std::string(value);
  for (const auto& c : up.chunks) {
    if (!c) return Status::Ok();  // more chunks to come
  }
  std::vector<std::string> all;
  for (auto& c : up.chunks) all.push_back(*c);
  up.chunks.clear();
  Result<std::string> blob = JoinChunks(all);
  if (!blob.ok()) return blob.status().WithContext("user.mkd.peer_table");
  Result<DecodedTable> table = DecodeTable(*blob);
  if (!table.ok()) return table.status().WithContext("user.mkd.peer_table");
  if (table->header.vm != node.vm || table->header.block != node.block) {
    return Status::InvalidArgument("user.mkd.peer_table: the table is of VM " +
                                   table->header.vm.ToString() + " block " + table->header.block +
                                   ", not of this file");
  }
  up.table = std::move(table->table);
  return Status::Ok();
}

Status Xattrs::Receive(Ino ino, const NodeRef& node, std::string_view value) {
  const std::string file = node.vm.ToString() + "/" + node.block;
  Result<ReceiveFrame> frame = ParseReceiveFrame(value);
  if (!frame.ok()) return frame.status().WithContext(file);
  std::shared_ptr<Block> block = registry_->FindBlock(ino);
  if (!block) return Status::NotFound("the file is gone");
  if (block->state() == IncarnationState::kLive && block->postcopy()) {
    return ReceiveMissing(*block, file, *frame);
  }
  Status s;
  switch (frame->kind) {
    case ReceiveKind::kPages:
      s = block->ReceivePages(frame->first, frame->count, frame->data.data(), frame->gen);
      break;
    case ReceiveKind::kZero:
      s = block->ReceiveZero(frame->first, frame->count, frame->gen);
      break;
    case ReceiveKind::kLater:
      for (const LaterRun& r : frame->runs) {
        s = block->ReceiveLater(r.first, r.count, r.gen);
        if (!s.ok()) break;
      }
      break;
    case ReceiveKind::kRuns: {
      const char* data = frame->data.data();
      for (const LaterRun& r : frame->runs) {
        s = block->ReceivePages(r.first, r.count, data, r.gen);
        if (!s.ok()) break;
        data += size_t{r.count} * kPageSize;
      }
      break;
    }
  }
  if (s.code() == ErrorCode::kFailedPrecondition) {
    return Status::FailedPrecondition(
        fmt::format("{}: user.mkd.receive: {} (set user.mkd.arrive on the VM directory and open "
                    "the file for writing first)",
                    file, s.message()));
  }
  return s.WithContext(file + ": user.mkd.receive");
}

Status Xattrs::Set(Ino ino, const NodeRef& node, std::string_view name, std::string_view value) {
  if (!StartsWith(name, kXattrPrefix)) {
    return Status::Unsupported("only user.mkd.* attributes exist here");
  }
  if (node.kind == NodeRef::Kind::kVm) {
    if (name == "user.mkd.arrive") {
      Result<Arrival> a = ParseArrival(value);
      if (!a.ok()) return a.status();
      return registry_->Arrive(node.vm, *a);
    }
    if (name == "user.mkd.commit") return registry_->Commit(node.vm);
    if (name == "user.mkd.abort") return registry_->Abort(node.vm);
    if (name == "user.mkd.advance") {
      Result<Epoch> e = ParseAdvance(value);
      if (!e.ok()) return e.status();
      return registry_->AdvanceEpoch(node.vm, *e);
    }
  }
  if (node.kind == NodeRef::Kind::kBlock && name == kReceiveXattr) {
    return Receive(ino, node, value);
  }
  if (node.kind == NodeRef::Kind::kBlock && name == "user.mkd.postcopy") {
    return SetPostcopy(node, value);
  }
  if (node.kind == NodeRef::Kind::kBlock && StartsWith(name, "user.mkd.peer_table.")) {
    return SetPeerChunk(ino, node, name.substr(std::string_view("user.mkd.peer_table.").size()),
                        value);
  }
  return Status::InvalidArgument(std::string(name) + " cannot be set here (see docs/memfs.md)");
}

Result<std::string> Xattrs::RunSync(Ino ino, const NodeRef& node, Block& block,
                                    const std::string& consumer) {
  MKD_RETURN_IF_ERROR(DirtyLog::ValidateName(consumer));
  Result<DirtyLog::Delivery> d = syncer_->Sync(ino, node.vm, node.block, block, consumer);
  if (!d.ok()) return d.status();
  const uint64_t count = d->pages.Count();
  const IncarnationMeta m = block.meta();
  std::string v =
      fmt::format("dirty_pages={} epoch={} syncs={}", count, m.epoch, block.counters().syncs);
  // A named consumer learns whether this sync started its view: a migration whose view was
  // replaced (more than DirtyLog::kMaxConsumers consumers) must not trust it.
  if (!consumer.empty()) v += d->new_consumer ? " new=1" : " new=0";
  MKD_CHECK(v.size() <= kSyncValueMax);
  return v;
}

Result<std::string> Xattrs::EncodeSynced(Ino ino, Block& block, const std::string& consumer) {
  std::optional<PageBitmap> last = syncer_->LastSync(ino, consumer);
  if (!last) {
    return Status::NotFound("no sync was made through " + std::string(kSyncXattr) +
                            (consumer.empty() ? "" : "." + consumer) + " yet");
  }
  return EncodeBitmap(HeaderOf(block.meta()), *last);
}

bool IsSyncName(std::string_view name) {
  return name == kSyncXattr || (name.size() > kSyncXattr.size() + 1 &&
                                StartsWith(name, kSyncXattr) && name[kSyncXattr.size()] == '.');
}

void Xattrs::Forget(Ino ino) {
  syncer_->Forget(ino);
  std::lock_guard lock(mu_);
  peers_.erase(ino);
  for (auto it = snapshots_.begin(); it != snapshots_.end();) {
    it = it->first.first == ino ? snapshots_.erase(it) : std::next(it);
  }
}

}  // namespace mkd::memfs
