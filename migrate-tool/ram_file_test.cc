// Tests of what ram_file.h does without a mount (the rest needs one: tests/system/test_migrate.py;
// the values it parses are tested in memfs-protocol/).
#include "migrate-tool/ram_file.h"

#include <gtest/gtest.h>

namespace mkd::migrate {
namespace {

TEST(RamFileTest, PostcopyStatusCarriesEveryCountTheWireSends) {
  memfs_protocol::PostcopyStats st;
  st.state = "failed";
  st.reason = "link down";
  st.missing = 1;
  st.total = 2;
  st.fetched = 3;
  st.pushed = 4;
  st.skipped = 5;
  st.faults = 6;
  st.parked = 7;
  st.fault_median_ms = 8.5;
  st.fault_p99_ms = 9.5;
  st.fault_max_ms = 10.5;
  st.seconds = 11.5;
  const PostcopyStatus s = PostcopyStatusOf(st);
  EXPECT_EQ(s.state, "failed");
  EXPECT_EQ(s.reason, "link down");
  EXPECT_EQ(s.missing, 1u);
  EXPECT_EQ(s.done.fetched, 3u);
  EXPECT_EQ(s.done.pushed, 4u);
  EXPECT_EQ(s.done.skipped, 5u);
  EXPECT_EQ(s.done.faults, 6u);
  EXPECT_EQ(s.done.fault_median_ms, 8.5);
  EXPECT_EQ(s.done.fault_p99_ms, 9.5);
  EXPECT_EQ(s.done.fault_max_ms, 10.5);
  EXPECT_EQ(s.done.seconds, 11.5);
}

TEST(RamFileTest, TheHelloForARamFileIsAValidHelloOfItsOneBlock) {
  RamFileSummary s;
  s.vm = Uuid::Random();
  s.epoch = 7;
  s.lineage = Uuid::Random();
  s.pages = 65536;
  const Uuid vm = Uuid::Random();
  Result<Hello> back = ParseHello(EncodeHello(HelloFor(vm, s, "host-a")));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->vm, vm);  // the definition's, which the summary's must equal (checked earlier)
  EXPECT_EQ(back->epoch, 7u);
  EXPECT_EQ(back->lineage, s.lineage);
  ASSERT_EQ(back->blocks.size(), 1u);
  EXPECT_EQ(back->blocks[0].name, "ram");
  EXPECT_EQ(back->blocks[0].pages, 65536u);
  EXPECT_EQ(back->source_host, "host-a");
}

}  // namespace
}  // namespace mkd::migrate
