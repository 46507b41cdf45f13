// Tests of the byte-size parser used by --budget.
#include "memfs/options.h"

#include <gtest/gtest.h>

namespace mkd::memfs {
namespace {

TEST(ParseBytesTest, AcceptsPlainNumbersAndBinaryUnits) {
  EXPECT_EQ(*ParseBytes("4096"), 4096u);
  EXPECT_EQ(*ParseBytes("512M"), 512ull << 20);
  EXPECT_EQ(*ParseBytes("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseBytes("1.5G"), 3ull << 29);
  EXPECT_EQ(*ParseBytes("64kb"), 64ull << 10);
  EXPECT_EQ(*ParseBytes("1T"), 1ull << 40);
}

TEST(ParseBytesTest, RejectsGarbage) {
  for (const char* bad : {"", "G", "-1", "12Q", "1e5", "1..2M", "99999999999999999999999T"}) {
    EXPECT_FALSE(ParseBytes(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace mkd::memfs
