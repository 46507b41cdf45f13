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

}  // namespace
}  // namespace mkd::migrate
