// Tests of DirLock: a second holder of the same directory is refused with the first one named,
// and the lock ends with its holder.
#include "memfs/dir_lock.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "memfs/test_util.h"

namespace mkd::memfs {
namespace {

TEST(DirLockTest, ASecondHolderIsRefusedWithTheFirstNamed) {
  testing::TempDir dir;
  Result<DirLock> first = DirLock::Acquire(dir.path(), "--store", "pid 111 mount /a");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<DirLock> second = DirLock::Acquire(dir.path(), "--store", "pid 222 mount /b");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kFailedPrecondition);
  const std::string m = second.status().message();
  EXPECT_NE(m.find("--store " + dir.path() + " is in use by another mkd-memfs"), std::string::npos)
      << m;
  EXPECT_NE(m.find("pid 111 mount /a"), std::string::npos) << m;
  // The refused attempt did not overwrite who holds it.
  std::ifstream in(dir.path() + "/" + kDirLockName);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), "pid 111 mount /a\n");
}

TEST(DirLockTest, TheLockEndsWithItsHolder) {
  testing::TempDir dir;
  {
    Result<DirLock> first = DirLock::Acquire(dir.path(), "--db", "one");
    ASSERT_TRUE(first.ok());
    DirLock moved = std::move(*first);  // still held after a move
    EXPECT_FALSE(DirLock::Acquire(dir.path(), "--db", "two").ok());
  }
  EXPECT_TRUE(DirLock::Acquire(dir.path(), "--db", "three").ok());
}

TEST(DirLockTest, AMissingDirectoryIsAnIoError) {
  testing::TempDir dir;
  Result<DirLock> l = DirLock::Acquire(dir.path() + "/nope", "--db", "x");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace mkd::memfs
