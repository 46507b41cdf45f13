// Fuzz target for ParseReceiveFrame (memfs/receive_frame.h): the value of the user.mkd.receive
// xattr, which any process that can set an xattr on the mount controls. No input may crash the
// parser; a refusal is kInvalidArgument naming the attribute; an accepted frame has consistent
// fields (count in range, data exactly its pages or later runs, generations that can be received)
// and re-encodes to exactly the input bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "genstore/check.h"
#include "memfs/receive_frame.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mkd::memfs::ReceiveKind;
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  mkd::Result<mkd::memfs::ReceiveFrame> f = mkd::memfs::ParseReceiveFrame(bytes);
  if (!f.ok()) {
    MKD_CHECK(f.status().code() == mkd::ErrorCode::kInvalidArgument);
    MKD_CHECK(f.status().message().find("user.mkd.receive") != std::string::npos);
    return 0;
  }
  MKD_CHECK(f->count >= 1);
  MKD_CHECK(f->gen != mkd::kGenInvalid);
  if (f->kind == ReceiveKind::kLater) {
    MKD_CHECK(f->runs.size() == f->count && f->count <= mkd::memfs::kMaxLaterRuns);
    for (const mkd::memfs::LaterRun& r : f->runs) {
      MKD_CHECK(r.count >= 1 && r.gen != mkd::kGenInvalid && r.gen != mkd::kGenNeverWritten);
    }
    MKD_CHECK(mkd::memfs::EncodeLaterFrame(f->runs) == bytes);
    return 0;
  }
  if (f->kind == ReceiveKind::kPages) {
    MKD_CHECK(f->count <= mkd::memfs::kMaxReceivePages);
    MKD_CHECK(f->gen != mkd::kGenNeverWritten);
    MKD_CHECK(f->data.size() == size_t{f->count} * mkd::kPageSize);
  } else {
    MKD_CHECK(f->kind == ReceiveKind::kZero && f->data.empty());
  }
  MKD_CHECK(mkd::memfs::EncodeReceiveFrame(f->kind, f->first, f->count, f->gen, f->data) == bytes);
  return 0;
}
