// Tests of the user.mkd.summary lines: exact formats (docs/memfs.md shows them), round trips of
// all three shapes, and a refusal for malformed fields.
#include "memfs-protocol/summary.h"

#include <gtest/gtest.h>

namespace mkd::memfs_protocol {
namespace {

constexpr char kVm[] = "0b5e3bb6-6a4f-4b4e-9f5a-2d7d4c1e8a10";
constexpr char kLineage[] = "5b0f7c1e-1d2a-4c7e-8a33-1f2e3d4c5b6a";

BlockSummary SampleBlock() {
  BlockSummary s;
  s.state = "live";
  s.vm = *Uuid::Parse(kVm);
  s.block = "ram";
  s.incarnation = 2;
  s.epoch = 3;
  s.lineage = *Uuid::Parse(kLineage);
  s.pages = 65536;
  s.resident = 29184;
  s.dirty_since_sync = 12;
  s.dirty_since_arrival = 29184;
  s.syncs = 3;
  s.writes = 100;
  s.pages_written = 200;
  s.zero_pages_written = 5;
  s.refused_writes = 4;
  s.pages_received = 7;
  return s;
}

TEST(SummaryTest, FormatsTheBlockLine) {
  EXPECT_EQ(FormatBlockSummary(SampleBlock()),
            std::string("state=live vm=") + kVm +
                " block=ram incarnation=2 epoch=3 lineage=" + kLineage +
                " pages=65536 size=256MiB resident=29184 held=114MiB dirty_since_sync=12 "
                "dirty_since_arrival=29184 lost=0 syncs=3 writes=100 pages_written=200 "
                "zero_pages_written=5 refused_writes=4 failed_writes=0 pages_received=7 "
                "pages_punched=0 pages_evicted=0 record=saved");
}

TEST(SummaryTest, BlockLineRoundTrips) {
  BlockSummary s = SampleBlock();
  for (int i = 0; i < 2; ++i) {
    Result<BlockSummary> back = ParseBlockSummary(FormatBlockSummary(s));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(*back, s);
    s.state = "stored";
    s.left_unix_ms = 1765000000000;
    s.record = "saving";
    s.resident = 0;
  }
}

TEST(SummaryTest, RefusesMalformedBlockLines) {
  const std::string good = FormatBlockSummary(SampleBlock());
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string v = good;
    const size_t at = v.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return v.replace(at, from.size(), to);
  };
  for (const std::string& bad :
       {std::string(""), edit("state=live", "state=gone"), edit("epoch=3", "epoch=x"),
        edit("epoch=3", "epoch=4294967295"), edit("lineage=", "lineage=nope"),
        edit(" pages=65536", ""), edit("size=256MiB", "size=1MiB"), edit("held=114MiB", "held=114"),
        edit("block=ram", "block="), edit("block=ram", "block=a/b"), edit("lost=0", "lost=-1"),
        edit("record=saved", "record=lost"), edit("record=saved", "record=saved x=1"),
        edit("record=saved", "record=saved lost=1"),
        edit("record=saved", "left_unix_ms=0 record=saved"), edit(" held", "  held"), good + " ",
        std::string(kSummaryValueMax + 1, 'x')}) {
    Result<BlockSummary> s = ParseBlockSummary(bad);
    EXPECT_FALSE(s.ok()) << bad.substr(0, 400);
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), ErrorCode::kCorrupt);
      EXPECT_NE(s.status().message().find("user.mkd.summary"), std::string::npos);
    }
  }
}

TEST(SummaryTest, VmLineRoundTrips) {
  VmSummary s;
  s.vm = *Uuid::Parse(kVm);
  EXPECT_EQ(FormatVmSummary(s), std::string("vm=") + kVm + " blocks=none arrival=none");
  s.blocks = {{"ram", "live"}, {"pc.ram", "incoming"}};
  s.arrival = Arrival{4, *Uuid::Parse(kLineage)};
  const std::string line = FormatVmSummary(s);
  EXPECT_EQ(line, std::string("vm=") + kVm +
                      " blocks=ram:live,pc.ram:incoming arrival={\"epoch\":4,\"lineage\":\"" +
                      kLineage + "\"}");
  Result<VmSummary> back = ParseVmSummary(line);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->vm, s.vm);
  EXPECT_EQ(back->blocks, s.blocks);
  ASSERT_TRUE(back->arrival);
  EXPECT_EQ(back->arrival->epoch, 4u);
  EXPECT_EQ(back->arrival->lineage, s.arrival->lineage);
  for (const std::string& bad :
       {std::string("vm=") + kVm + " blocks=ram arrival=none",
        std::string("vm=") + kVm + " blocks=ram:gone arrival=none",
        std::string("vm=") + kVm + " blocks=none arrival={}",
        std::string("vm=") + kVm + " blocks=none", std::string("vm=x blocks=none arrival=none")}) {
    EXPECT_FALSE(ParseVmSummary(bad).ok()) << bad;
  }
}

TEST(SummaryTest, HostLineRoundTrips) {
  HostSummary s{"host-a", 2, 1, 0, 1, 100 << 20, uint64_t{1} << 30, 1536, 0, 1 << 30};
  const std::string line = FormatHostSummary(s);
  EXPECT_EQ(line,
            "host=host-a vms=2 live=1 incoming=0 stored=1 stored_held=100MiB budget=1GiB "
            "live_held=1.5KiB unsaved=0 max_file_size=1073741824");
  Result<HostSummary> back = ParseHostSummary(line);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->host_id, s.host_id);
  EXPECT_EQ(back->stored_held_bytes, s.stored_held_bytes);
  EXPECT_EQ(back->budget_bytes, s.budget_bytes);
  EXPECT_EQ(back->live_held_bytes, s.live_held_bytes);
  EXPECT_EQ(back->max_file_size, s.max_file_size);
  s.budget_bytes.reset();
  s.stored_held_bytes = 123456789;  // HumanBytes keeps 3 digits: the text round-trips
  const std::string no_budget = FormatHostSummary(s);
  EXPECT_NE(no_budget.find(" budget=none "), std::string::npos);
  back = ParseHostSummary(no_budget);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_FALSE(back->budget_bytes);
  EXPECT_EQ(FormatHostSummary(*back), no_budget);
  EXPECT_FALSE(ParseHostSummary("host=h vms=1").ok());
  EXPECT_FALSE(ParseHostSummary(no_budget + " x=1").ok());
}

TEST(SummaryTest, HumanBytesRoundTripsAsText) {
  EXPECT_EQ(HumanBytes(268435456), "256MiB");
  EXPECT_EQ(HumanBytes(1536), "1.5KiB");
  EXPECT_EQ(HumanBytes(100), "100B");
  EXPECT_EQ(HumanBytes(1048575), "1024KiB");
  EXPECT_EQ(ParseHumanBytes("1024KiB"), 1048575u);
  for (uint64_t v = 0; v < (uint64_t{1} << 50); v = v * 3 + 7) {
    const std::string text = HumanBytes(v);
    std::optional<uint64_t> back = ParseHumanBytes(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(HumanBytes(*back), text);
  }
  for (std::string_view bad :
       {"", "B", "1", "1.0MiB", "1024.5KiB", "0KiB", "1.5", "-1B", "1.5XiB", "01KiB"}) {
    EXPECT_FALSE(ParseHumanBytes(bad)) << bad;
  }
}

TEST(SummaryTest, SplitsAnySummaryIntoFields) {
  Result<std::vector<std::pair<std::string, std::string>>> f = ParseSummaryFields("a=1 b= c=x=y");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(
      *f, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", ""}, {"c", "x=y"}}));
  for (std::string_view bad : {"", "a", "=1", "a=1  b=2", "a=1 a=2", "a=1 "}) {
    EXPECT_FALSE(ParseSummaryFields(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace mkd::memfs_protocol
