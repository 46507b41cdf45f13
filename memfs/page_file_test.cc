// Tests of PageFile: zero pages stay holes, content round-trips, punching frees memory.
#include "memfs/page_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "genstore/zero_page.h"
#include "memfs/test_util.h"

namespace mkd::memfs {
namespace {

std::vector<char> Pages(uint64_t n, char fill) { return std::vector<char>(n * 4096, fill); }

TEST(PageFileTest, ZeroPagesAreNotStoredAndContentRoundTrips) {
  testing::TempDir dir;
  Result<PageFile> f = PageFile::Open(dir.path() + "/p", true);
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->Resize(16), 0);
  std::vector<char> data = Pages(4, 0);
  data[4096 + 7] = 1;  // page 1 has content, pages 0, 2, 3 are zero
  data[3 * 4096] = 5;  // page 3 too
  ASSERT_EQ(f->WritePages(4, 4, data.data()), 0);
  std::vector<char> back = Pages(4, 'x');
  ASSERT_EQ(f->ReadPages(4, 4, back.data()), 0);
  EXPECT_EQ(back, data);
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  ASSERT_EQ(f->ForEachResidentRun(16, [&](uint64_t a, uint64_t n) { runs.emplace_back(a, n); }), 0);
  EXPECT_EQ(runs, (std::vector<std::pair<uint64_t, uint64_t>>{{5, 1}, {7, 1}}));
  EXPECT_EQ(*f->ResidentPages(), 2u);
}

TEST(PageFileTest, WritingZerosOverContentFreesThePage) {
  testing::TempDir dir;
  Result<PageFile> f = PageFile::Open(dir.path() + "/p", true);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->Resize(4), 0);
  ASSERT_EQ(f->WritePages(0, 4, Pages(4, 9).data()), 0);
  EXPECT_EQ(*f->ResidentPages(), 4u);
  ASSERT_EQ(f->WritePages(1, 2, Pages(2, 0).data()), 0);
  EXPECT_EQ(*f->ResidentPages(), 2u);
  ASSERT_EQ(f->PunchPages(0, 1), 0);
  EXPECT_EQ(*f->ResidentPages(), 1u);
  std::vector<char> back = Pages(4, 'x');
  ASSERT_EQ(f->ReadPages(0, 4, back.data()), 0);
  std::vector<char> expect = Pages(4, 0);
  std::memset(expect.data() + 3 * 4096, 9, 4096);
  EXPECT_EQ(back, expect);
}

TEST(PageFileTest, ZeroPageCheckTakesAnyAlignment) {
  // An xattr value (a user.mkd.receive frame) starts at any address.
  std::vector<char> buf = Pages(2, 0);
  for (size_t shift : {1, 3, 7}) {
    EXPECT_TRUE(IsZeroPage(buf.data() + shift)) << shift;
    buf[shift + 2000] = 1;
    EXPECT_FALSE(IsZeroPage(buf.data() + shift)) << shift;
    buf[shift + 2000] = 0;
  }
}

TEST(PageFileTest, ReadPastTheEndReadsZeros) {
  testing::TempDir dir;
  Result<PageFile> f = PageFile::Open(dir.path() + "/p", true);
  ASSERT_TRUE(f.ok());
  std::vector<char> back = Pages(2, 'x');
  ASSERT_EQ(f->ReadPages(10, 2, back.data()), 0);
  EXPECT_EQ(back, Pages(2, 0));
}

TEST(PageFileTest, OpeningAMissingFileWithoutCreateFails) {
  testing::TempDir dir;
  Result<PageFile> f = PageFile::Open(dir.path() + "/missing", false);
  EXPECT_FALSE(f.ok());
}

}  // namespace
}  // namespace mkd::memfs
