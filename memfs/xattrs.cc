// The user.mkd.* extended attributes (see xattrs.h; names and values: memfs-protocol/).
#include "memfs/xattrs.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>

#include "base/check.h"
#include "genstore/bitmap_codec.h"
#include "genstore/chunking.h"
#include "genstore/compare.h"
#include "genstore/digests.h"
#include "genstore/table_codec.h"
#include "memfs-protocol/arrival.h"
#include "memfs-protocol/names.h"
#include "memfs-protocol/receive_frame.h"
#include "memfs-protocol/summary.h"
#include "memfs-protocol/sync_reply.h"
#include "memfs/summary.h"

namespace mkd::memfs {

namespace mp = memfs_protocol;

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
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
  std::vector<std::string> names = {std::string(mp::kSummary)};
  if (node.kind == NodeRef::Kind::kVm && registry_->PendingArrival(node.vm)) {
    names.emplace_back(mp::kArrive);
  }
  if (node.kind == NodeRef::Kind::kBlock) {
    names.emplace_back(mp::kTable);
    names.emplace_back(mp::kDirty);
    if (std::shared_ptr<Block> b = registry_->FindBlock(ino); b && b->postcopy()) {
      names.emplace_back(mp::kPostcopy);
    }
    // user.mkd.digests is not listed: computing it reads the whole page store, which an
    // innocent `getfattr -d` should not make a running VM's write-backs wait for.
    if (syncer_->LastSync(ino, "")) names.emplace_back(mp::kSynced);
    std::lock_guard lock(mu_);
    auto peer = peers_.find(ino);
    if (peer != peers_.end() && peer->second.table) names.emplace_back(mp::kReusable);
  }
  return names;
}

Result<std::string> Xattrs::Chunked(Ino ino, std::string_view base, std::string_view suffix,
                                    const std::function<Result<std::string>()>& encode,
                                    bool keep_snapshot) {
  auto key = std::make_pair(ino, std::string(base));
  std::optional<uint32_t> index;
  if (!suffix.empty()) {
    index = mp::ParseChunkIndex(suffix.substr(1));  // suffix is ".N"
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
      return mp::FormatChunkDescription(base, count, blob->size());
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
  if (name == mp::kSummary) return mp::FormatBlockSummary(BlockSummaryOf(*block));
  if (name == mp::kPostcopy) return GetPostcopy(*block);
  if (mp::IsSyncName(name)) {
    return RunSync(ino, node, *block, std::string(mp::SyncConsumer(name)),
                   /*write_back=*/!mp::IsTakeName(name));
  }
  const std::string synced_of = std::string(mp::kSynced) + ".";
  if (StartsWith(name, synced_of) && name.size() > synced_of.size() &&
      name[synced_of.size()] >= 'a' && name[synced_of.size()] <= 'z') {
    // user.mkd.synced.<consumer>[.N]: the pages of that consumer's last sync. Not kept as a
    // snapshot (their number would follow the names callers make up): the value changes only
    // at that consumer's own next sync, so its chunks are read from fresh encodings of it.
    const std::string_view rest = name.substr(synced_of.size());
    const size_t dot = rest.find('.');
    const std::string consumer(rest.substr(0, dot));
    return Chunked(
        ino, mp::SyncedName(consumer), dot == std::string_view::npos ? "" : rest.substr(dot),
        [&] { return EncodeSynced(ino, *block, consumer); }, /*keep_snapshot=*/false);
  }
  for (std::string_view base : mp::kChunkedNames) {
    if (!StartsWith(name, base)) continue;
    std::string_view suffix = name.substr(base.size());
    if (!suffix.empty() && suffix[0] != '.') continue;
    return Chunked(ino, base, suffix, [&]() -> Result<std::string> {
      const IncarnationMeta m = block->meta();
      if (base == mp::kTable) return EncodeTable(HeaderOf(m), block->TableSnapshot());
      if (base == mp::kDirty) return EncodeBitmap(HeaderOf(m), block->DirtySinceArrival());
      if (base == mp::kDigests) {
        MKD_ASSIGN_OR_RETURN(PageDigests digests, block->ComputeDigests());
        return EncodeDigests(HeaderOf(m), digests);
      }
      if (base == mp::kSynced) return EncodeSynced(ino, *block, "");
      // user.mkd.reusable
      std::optional<GenerationTable> peer;
      {
        std::lock_guard lock(mu_);
        auto it = peers_.find(ino);
        if (it != peers_.end()) peer = it->second.table;
      }
      if (!peer) {
        return Status::NotFound(fmt::format("no peer table was set ({}.N)", mp::kPeerTable));
      }
      const GenerationTable own = block->TableSnapshot();
      PageBitmap reusable(own.pages());
      ComputeReusable(own, *peer, &reusable);
      return EncodeBitmap(HeaderOf(m), reusable);
    });
  }
  return UnknownName(name);
}

Result<std::string> Xattrs::Get(Ino ino, const NodeRef& node, std::string_view name) {
  if (!StartsWith(name, mp::kPrefix)) return Status::NotFound("not a miyakodori attribute");
  switch (node.kind) {
    case NodeRef::Kind::kRoot:
      if (name == mp::kSummary) return mp::FormatHostSummary(HostSummaryOf(*registry_));
      return UnknownName(name);
    case NodeRef::Kind::kVm: {
      if (name == mp::kSummary) return mp::FormatVmSummary(VmSummaryOf(node.vm, *registry_));
      if (name == mp::kArrive) {
        std::optional<Arrival> a = registry_->PendingArrival(node.vm);
        if (!a) return Status::NotFound("no arrival is pending");
        return mp::FormatArrival(*a);
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
  const std::string peer_table(mp::kPeerTable);
  Result<ChunkInfo> info = ParseChunk(value);
  if (!info.ok()) return info.status().WithContext(peer_table);
  std::optional<uint32_t> index = mp::ParseChunkIndex(index_text);
  if (!index || *index != info->index) {
    return Status::InvalidArgument(peer_table + "." + std::string(index_text) +
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
  if (!blob.ok()) return blob.status().WithContext(peer_table);
  Result<DecodedTable> table = DecodeTable(*blob);
  if (!table.ok()) return table.status().WithContext(peer_table);
  if (table->header.vm != node.vm || table->header.block != node.block) {
    return Status::InvalidArgument(peer_table + ": the table is of VM " +
                                   table->header.vm.ToString() + " block " + table->header.block +
                                   ", not of this file");
  }
  up.table = std::move(table->table);
  return Status::Ok();
}

Status Xattrs::Receive(Ino ino, const NodeRef& node, std::string_view value) {
  const std::string file = node.vm.ToString() + "/" + node.block;
  Result<mp::ReceiveFrame> frame = mp::ParseReceiveFrame(value);
  if (!frame.ok()) return frame.status().WithContext(file);
  std::shared_ptr<Block> block = registry_->FindBlock(ino);
  if (!block) return Status::NotFound("the file is gone");
  if (block->state() == IncarnationState::kLive && block->postcopy()) {
    return ReceiveMissing(*block, file, *frame);
  }
  Status s;
  switch (frame->kind) {
    case mp::ReceiveKind::kPages:
      s = block->ReceivePages(frame->first, frame->count, frame->data.data(), frame->gen);
      break;
    case mp::ReceiveKind::kZero:
      s = block->ReceiveZero(frame->first, frame->count, frame->gen);
      break;
    case mp::ReceiveKind::kLater:
      for (const mp::LaterRun& r : frame->runs) {
        s = block->ReceiveLater(r.first, r.count, r.gen);
        if (!s.ok()) break;
      }
      break;
    case mp::ReceiveKind::kRuns: {
      const char* data = frame->data.data();
      for (const mp::LaterRun& r : frame->runs) {
        s = block->ReceivePages(r.first, r.count, data, r.gen);
        if (!s.ok()) break;
        data += size_t{r.count} * kPageSize;
      }
      break;
    }
  }
  if (s.code() == ErrorCode::kFailedPrecondition) {
    return Status::FailedPrecondition(
        fmt::format("{}: {}: {} (set {} on the VM directory and open the file for writing first)",
                    file, mp::kReceive, s.message(), mp::kArrive));
  }
  return s.WithContext(fmt::format("{}: {}", file, mp::kReceive));
}

Status Xattrs::Set(Ino ino, const NodeRef& node, std::string_view name, std::string_view value) {
  if (!StartsWith(name, mp::kPrefix)) {
    return Status::Unsupported(fmt::format("only {}* attributes exist here", mp::kPrefix));
  }
  if (node.kind == NodeRef::Kind::kVm) {
    if (name == mp::kArrive) {
      MKD_ASSIGN_OR_RETURN(Arrival a, mp::ParseArrival(value));
      return registry_->Arrive(node.vm, a);
    }
    if (name == mp::kCommit) return registry_->Commit(node.vm);
    if (name == mp::kAbort) return registry_->Abort(node.vm);
    if (name == mp::kAdvance) {
      MKD_ASSIGN_OR_RETURN(Epoch e, mp::ParseAdvance(value));
      return registry_->AdvanceEpoch(node.vm, e);
    }
  }
  if (node.kind == NodeRef::Kind::kBlock && name == mp::kReceive) {
    return Receive(ino, node, value);
  }
  if (node.kind == NodeRef::Kind::kBlock && name == mp::kPostcopy) {
    return SetPostcopy(node, value);
  }
  const std::string peer_chunk = std::string(mp::kPeerTable) + ".";
  if (node.kind == NodeRef::Kind::kBlock && StartsWith(name, peer_chunk)) {
    return SetPeerChunk(ino, node, name.substr(peer_chunk.size()), value);
  }
  return Status::InvalidArgument(std::string(name) + " cannot be set here (see docs/memfs.md)");
}

Result<std::string> Xattrs::RunSync(Ino ino, const NodeRef& node, Block& block,
                                    const std::string& consumer, bool write_back) {
  MKD_RETURN_IF_ERROR(DirtyLog::ValidateName(consumer));
  MKD_ASSIGN_OR_RETURN(DirtyLog::Delivery d,
                       write_back ? syncer_->Sync(ino, node.vm, node.block, block, consumer)
                                  : syncer_->Take(ino, block, consumer));
  mp::SyncReply reply{d.pages.Count(), block.meta().epoch, block.counters().syncs, std::nullopt};
  // A named consumer learns whether this sync started its view: a migration whose view was
  // replaced (more than DirtyLog::kMaxConsumers consumers) must not trust it.
  if (!consumer.empty()) reply.new_consumer = d.new_consumer;
  std::string v = mp::FormatSyncReply(reply);
  MKD_CHECK(v.size() <= mp::kSyncValueMax);
  return v;
}

Result<std::string> Xattrs::EncodeSynced(Ino ino, Block& block, const std::string& consumer) {
  std::optional<PageBitmap> last = syncer_->LastSync(ino, consumer);
  if (!last) {
    return Status::NotFound("no sync was made through " + mp::SyncName(consumer) + " yet");
  }
  return EncodeBitmap(HeaderOf(block.meta()), *last);
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
