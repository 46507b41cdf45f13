// memfs_protocol_dump: prints, as one JSON object, every user.mkd.* name of names.h, sample
// values formatted by this library with the fields its parsers read from them, and lines its
// summary parser refuses. The Python module
// tests/system/mkdsys/memfs_protocol.py is tested against this output (memfs_protocol_python in
// suite unit), so the two cannot drift apart. Test tool; writes stdout only.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "memfs-protocol/names.h"
#include "memfs-protocol/summary.h"
#include "memfs-protocol/sync_reply.h"

namespace mp = mkd::memfs_protocol;

namespace {

nlohmann::json FieldsOf(const std::string& line) {
  nlohmann::json fields = nlohmann::json::array();  // [key, value] pairs, in order
  const auto parsed = mp::ParseSummaryFields(line);
  if (parsed.ok()) {
    for (const auto& [k, v] : *parsed) fields.push_back({k, v});
  }
  return {{"line", line}, {"fields", fields}};
}

}  // namespace

int main() {
  nlohmann::json names = {
      {"PREFIX", mp::kPrefix},   {"SUMMARY", mp::kSummary}, {"TABLE", mp::kTable},
      {"DIRTY", mp::kDirty},     {"SYNCED", mp::kSynced},   {"REUSABLE", mp::kReusable},
      {"DIGESTS", mp::kDigests}, {"SYNC", mp::kSync},       {"PEER_TABLE", mp::kPeerTable},
      {"RECEIVE", mp::kReceive}, {"WANTED", mp::kWanted},   {"POSTCOPY", mp::kPostcopy},
      {"ARRIVE", mp::kArrive},   {"COMMIT", mp::kCommit},   {"ABORT", mp::kAbort},
      {"ADVANCE", mp::kAdvance}, {"TAKE", mp::kTake},
  };
  const mkd::Uuid vm = *mkd::Uuid::Parse("0b5e3bb6-6a4f-4b4e-9f5a-2d7d4c1e8a10");
  const mkd::Uuid lineage = *mkd::Uuid::Parse("5b0f7c1e-1d2a-4c7e-8a33-1f2e3d4c5b6a");
  mp::BlockSummary block;
  block.state = "stored";
  block.vm = vm;
  block.block = "ram";
  block.incarnation = 2;
  block.epoch = 3;
  block.lineage = lineage;
  block.pages = 65536;
  block.resident = 29184;
  block.refused_writes = 4;
  block.left_unix_ms = 1765000000000;
  block.record = "saving";
  mp::VmSummary vm_summary{vm, {{"ram", "live"}, {"pc.ram", "incoming"}}, mp::Arrival{4, lineage}};
  mp::HostSummary host{"host-a", 2, 1, 0, 1, 100 << 20, std::nullopt, 1536, 0, 1 << 30};
  nlohmann::json out = {
      {"names", names},
      {"sync_name", mp::SyncName("mig-1")},
      {"synced_name", mp::SyncedName("mig-1")},
      {"chunk_name", mp::ChunkName(mp::kPeerTable, 3)},
      {"chunk_description",
       {{"value", mp::FormatChunkDescription(mp::kTable, 3, 150000)}, {"chunks", 3}}},
      {"summaries",
       {FieldsOf(mp::FormatBlockSummary(block)), FieldsOf(mp::FormatVmSummary(vm_summary)),
        FieldsOf(mp::FormatHostSummary(host))}},
  };
  const mp::SyncReply sync{12, 3, 7, true};
  out["sync_reply"] = {{"value", mp::FormatSyncReply(sync)},
                       {"fields",
                        {{"dirty_pages", sync.dirty_pages},
                         {"epoch", sync.epoch},
                         {"syncs", sync.syncs},
                         {"new", 1}}}};
  // Lines the C++ parser refuses: the Python one must refuse them too.
  nlohmann::json refused = nlohmann::json::array();
  for (const char* line : {"", "a", "=1", "a=1  b=2", "a=1 a=2", "a=1 ", " a=1"}) {
    if (!mp::ParseSummaryFields(line).ok()) refused.push_back(line);
  }
  out["refused_summaries"] = refused;
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
