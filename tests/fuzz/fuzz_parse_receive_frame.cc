// Fuzz target for ParseReceiveFrame (memfs-protocol/receive_frame.h): the value of the
// user.mkd.receive xattr, which any process that can set an xattr on the mount controls. No input
// may crash the parser; a refusal is kInvalidArgument naming the attribute; an accepted frame has
// consistent fields (count in range, data exactly its pages or later runs, generations that can be
// received) and re-encodes to exactly the input bytes. An accepted frame is then written into an
// incoming block (memfs/block.h) that arrives in epoch kArrivalEpoch, as user.mkd.receive does: the
// block takes it only if every generation is below that epoch and every page inside the block
// (docs/security.md, ordering), and refuses it otherwise with kInvalidArgument / kOutOfRange.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/check.h"
#include "memfs-protocol/names.h"
#include "memfs-protocol/receive_frame.h"
#include "memfs/block.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

constexpr mkd::Epoch kArrivalEpoch = 5;
constexpr uint64_t kBlockPages = 64;

// One incoming block for the whole run, its page store in a fresh temporary directory.
mkd::memfs::Block& IncomingBlock() {
  static std::unique_ptr<mkd::memfs::Block> block = [] {
    char dir[] = "/tmp/mkd-fuzz-receive-XXXXXX";
    MKD_CHECK(::mkdtemp(dir) != nullptr);
    mkd::Result<mkd::memfs::PageFile> f =
        mkd::memfs::PageFile::Open(std::string(dir) + "/block", true);
    MKD_CHECK(f.ok());
    mkd::IncarnationMeta m;
    m.key = mkd::IncarnationKey{mkd::Uuid::Random(), "ram", 1};
    m.state = mkd::IncarnationState::kIncoming;
    m.epoch = kArrivalEpoch;
    m.lineage = mkd::Uuid::Random();
    m.host_id = "fuzz";
    auto b = std::make_unique<mkd::memfs::Block>(m, mkd::GenerationTable(0), std::move(*f));
    MKD_CHECK(b->SetSize(kBlockPages * mkd::kPageSize) == 0);
    return b;
  }();
  return *block;
}

// Writes the frame into the incoming block; checks the ordering and range invariants.
void ApplyToIncomingBlock(const mkd::memfs_protocol::ReceiveFrame& f) {
  using mkd::memfs_protocol::ReceiveKind;
  mkd::memfs::Block& b = IncomingBlock();
  auto inside = [](uint64_t first, uint64_t count) {
    return first <= kBlockPages && count <= kBlockPages - first;
  };
  auto check = [&](const mkd::Status& s, uint64_t first, uint64_t count, mkd::Generation gen) {
    if (s.ok()) {
      MKD_CHECK(gen < kArrivalEpoch && inside(first, count));
    } else {
      MKD_CHECK(s.code() == mkd::ErrorCode::kInvalidArgument ||
                s.code() == mkd::ErrorCode::kOutOfRange);
      MKD_CHECK(gen >= kArrivalEpoch || !inside(first, count) ||
                (f.kind == ReceiveKind::kLater && gen == mkd::kGenNeverWritten));
    }
  };
  switch (f.kind) {
    case ReceiveKind::kPages:
      check(b.ReceivePages(f.first, f.count, f.data.data(), f.gen), f.first, f.count, f.gen);
      break;
    case ReceiveKind::kZero:
      check(b.ReceiveZero(f.first, f.count, f.gen), f.first, f.count, f.gen);
      break;
    case ReceiveKind::kLater:
      for (const mkd::memfs_protocol::LaterRun& r : f.runs) {
        check(b.ReceiveLater(r.first, r.count, r.gen), r.first, r.count, r.gen);
      }
      break;
    case ReceiveKind::kRuns: {
      const char* data = f.data.data();
      for (const mkd::memfs_protocol::LaterRun& r : f.runs) {
        check(b.ReceivePages(r.first, r.count, data, r.gen), r.first, r.count, r.gen);
        data += size_t{r.count} * mkd::kPageSize;
      }
      break;
    }
  }
  MKD_CHECK(b.state() == mkd::IncarnationState::kIncoming);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mkd::memfs_protocol::ReceiveKind;
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  mkd::Result<mkd::memfs_protocol::ReceiveFrame> f = mkd::memfs_protocol::ParseReceiveFrame(bytes);
  if (!f.ok()) {
    MKD_CHECK(f.status().code() == mkd::ErrorCode::kInvalidArgument);
    MKD_CHECK(f.status().message().find(mkd::memfs_protocol::kReceive) != std::string::npos);
    return 0;
  }
  MKD_CHECK(f->count >= 1);
  MKD_CHECK(f->gen != mkd::kGenInvalid);
  if (f->kind == ReceiveKind::kLater) {
    MKD_CHECK(f->runs.size() == f->count && f->count <= mkd::memfs_protocol::kMaxLaterRuns);
    for (const mkd::memfs_protocol::LaterRun& r : f->runs) {
      MKD_CHECK(r.count >= 1 && r.gen != mkd::kGenInvalid && r.gen != mkd::kGenNeverWritten);
    }
    MKD_CHECK(mkd::memfs_protocol::EncodeLaterFrame(f->runs) == bytes);
    ApplyToIncomingBlock(*f);
    return 0;
  }
  if (f->kind == ReceiveKind::kRuns) {
    MKD_CHECK(f->runs.size() == f->count && f->count <= mkd::memfs_protocol::kMaxReceivePages);
    size_t pages = 0;
    for (const mkd::memfs_protocol::LaterRun& r : f->runs) {
      MKD_CHECK(r.count >= 1 && r.gen != mkd::kGenInvalid && r.gen != mkd::kGenNeverWritten);
      pages += r.count;
    }
    MKD_CHECK(pages <= mkd::memfs_protocol::kMaxReceivePages);
    MKD_CHECK(f->data.size() == pages * mkd::kPageSize);
    MKD_CHECK(mkd::memfs_protocol::EncodeRunsFrame(f->runs, f->data) == bytes);
    ApplyToIncomingBlock(*f);
    return 0;
  }
  if (f->kind == ReceiveKind::kPages) {
    MKD_CHECK(f->count <= mkd::memfs_protocol::kMaxReceivePages);
    MKD_CHECK(f->gen != mkd::kGenNeverWritten);
    MKD_CHECK(f->data.size() == size_t{f->count} * mkd::kPageSize);
  } else {
    MKD_CHECK(f->kind == ReceiveKind::kZero && f->data.empty());
  }
  MKD_CHECK(mkd::memfs_protocol::EncodeReceiveFrame(f->kind, f->first, f->count, f->gen, f->data) ==
            bytes);
  ApplyToIncomingBlock(*f);
  return 0;
}
