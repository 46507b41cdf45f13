// Tests of the byte-size parser used by --budget, the default --max-file-size and the option
// checks made before mounting.
#include "memfs/options.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "genstore/generation.h"
#include "memfs/test_util.h"

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

TEST(DefaultMaxFileBytesTest, IsThePhysicalMemoryInWholePagesAtMostOneTebibyte) {
  const uint64_t bytes = DefaultMaxFileBytes();
  EXPECT_GT(bytes, 0u);
  EXPECT_LE(bytes, uint64_t{1} << 40);
  EXPECT_EQ(bytes % kPageSize, 0u);
}

class ValidateOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    o_.mountpoint = dir_.path() + "/mnt";
    o_.store_dir = dir_.path() + "/store";
    ASSERT_EQ(::mkdir(o_.mountpoint.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(o_.store_dir.c_str(), 0700), 0);
  }
  testing::TempDir dir_;
  MemfsOptions o_;
};

TEST_F(ValidateOptionsTest, AcceptsAnEmptyMountPoint) {
  std::string warning;
  Status s = ValidateOptions(o_, &warning);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(ValidateOptionsTest, RefusesANonEmptyMountPoint) {
  std::ofstream(o_.mountpoint + "/somebody's-file") << "x";
  std::string warning;
  Status s = ValidateOptions(o_, &warning);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("mount point " + o_.mountpoint + " is not empty"), std::string::npos)
      << s.message();
}

TEST_F(ValidateOptionsTest, RefusesAMaxFileSizeOutsideFourKibibytesToOneTebibyte) {
  std::string warning;
  for (uint64_t bad : {uint64_t{0}, uint64_t{4095}, (uint64_t{1} << 40) + 4096}) {
    o_.max_file_bytes = bad;
    EXPECT_EQ(ValidateOptions(o_, &warning).code(), ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace mkd::memfs
