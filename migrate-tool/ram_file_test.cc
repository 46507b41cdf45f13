// Tests for the parsing of user.mkd.summary in ram_file.h (the rest of RamFile needs a mount:
// tests/system/test_migrate.py).
#include "migrate-tool/ram_file.h"

#include <gtest/gtest.h>

namespace mkd::migrate {
namespace {

TEST(RamFileTest, ParsesTheSummaryLine) {
  Result<RamFileSummary> s = ParseSummary(
      "state=live vm=0b5e3bb6-6a4f-4b4e-9f5a-2d7d4c1e8a10 block=ram incarnation=2 epoch=3 "
      "lineage=5b0f7c1e-1d2a-4c7e-8a33-1f2e3d4c5b6a pages=65536 size=256MiB refused_writes=4");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->state, "live");
  EXPECT_EQ(s->epoch, 3u);
  EXPECT_EQ(s->pages, 65536u);
  EXPECT_EQ(s->refused_writes, 4u);
  EXPECT_EQ(s->fields.at("size"), "256MiB");
}

TEST(RamFileTest, RefusesASummaryWithoutItsFields) {
  EXPECT_FALSE(ParseSummary("").ok());
  EXPECT_FALSE(
      ParseSummary("state=live epoch=x lineage=5b0f7c1e-1d2a-4c7e-8a33-1f2e3d4c5b6a pages=1").ok());
  EXPECT_FALSE(ParseSummary("state=live epoch=1 lineage=nope pages=1").ok());
  EXPECT_FALSE(ParseSummary("state=live epoch=1 pages=1").ok());
}

}  // namespace
}  // namespace mkd::migrate
