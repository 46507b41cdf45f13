// Fuzz target for the key=value values memfs returns and clients parse (memfs-protocol/
// summary.h, sync_reply.h, names.h): the three user.mkd.summary lines, the user.mkd.sync reply
// and a chunked value's description. What a mount returns is untrusted (any FUSE daemon can be
// mounted there). No input may crash a parser; a refusal is kCorrupt naming the attribute; an
// accepted value formats back to exactly the input (the formats have one spelling), except the
// host summary, whose byte counts are rounded, and which must parse again to the same text.
#include <cstddef>
#include <cstdint>

#include "base/check.h"
#include "memfs-protocol/names.h"
#include "memfs-protocol/summary.h"
#include "memfs-protocol/sync_reply.h"
#include "tests/fuzz/fuzz_support.h"

namespace mp = mkd::memfs_protocol;

namespace {

template <typename T>
void CheckRefusal(const mkd::Result<T>& r, std::string_view name) {
  MKD_CHECK(r.status().code() == mkd::ErrorCode::kCorrupt);
  MKD_CHECK(r.status().message().find(name) != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mkd::fuzz::AsBytes(data, size);
  auto fields = mp::ParseSummaryFields(bytes);
  if (!fields.ok()) CheckRefusal(fields, mp::kSummary);

  mkd::Result<mp::BlockSummary> block = mp::ParseBlockSummary(bytes);
  if (block.ok()) {
    MKD_CHECK(fields.ok());
    MKD_CHECK(block->pages <= mkd::kMaxPages && block->epoch <= mkd::kMaxEpoch);
    // Fields may come in any order: the formatted line parses back to the same struct.
    MKD_CHECK(*mp::ParseBlockSummary(mp::FormatBlockSummary(*block)) == *block);
  } else {
    CheckRefusal(block, mp::kSummary);
  }
  mkd::Result<mp::VmSummary> vm = mp::ParseVmSummary(bytes);
  if (vm.ok()) {
    const std::string line = mp::FormatVmSummary(*vm);
    mkd::Result<mp::VmSummary> again = mp::ParseVmSummary(line);
    MKD_CHECK(again.ok() && mp::FormatVmSummary(*again) == line);
  } else {
    CheckRefusal(vm, mp::kSummary);
  }
  mkd::Result<mp::HostSummary> host = mp::ParseHostSummary(bytes);
  if (host.ok()) {
    const std::string line = mp::FormatHostSummary(*host);
    mkd::Result<mp::HostSummary> again = mp::ParseHostSummary(line);
    MKD_CHECK(again.ok() && mp::FormatHostSummary(*again) == line);
  } else {
    CheckRefusal(host, mp::kSummary);
  }
  mkd::Result<mp::SyncReply> sync = mp::ParseSyncReply(bytes);
  if (sync.ok()) {
    MKD_CHECK(mp::FormatSyncReply(*sync) == bytes);
  } else {
    CheckRefusal(sync, mp::kSync);
  }
  if (std::optional<uint32_t> chunks = mp::ParseChunkDescription(bytes)) MKD_CHECK(*chunks >= 1);
  return 0;
}
