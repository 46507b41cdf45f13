// Tests of HostDirectories and ResolveOwner on a temporary directory, with this process's own
// ids as the owner (so they pass as any user): parents, modes, an existing directory, and a
// symlink that must not be followed. Touches its temporary directory only.
#include "libvirt/host_directories.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/temp_dir_for_test.h"

namespace mkd::libvirt {
namespace {

DirectoryOwner Me(uint32_t mode = 0750) {
  return {std::to_string(::getuid()), std::to_string(::getgid()), mode};
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(HostDirectoriesTest, MakesParentsWithMode0755AndGivesTheDirectoryToItsOwner) {
  testing::TempDirForTest dir;
  const mode_t old_umask = ::umask(077);  // libvirtd's hooks may run with a strict umask
  Status s = HostDirectories().Ensure(dir / "run/vms/uuid", /*parents=*/true, Me());
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ModeOf(dir / "run"), 0755u);
  EXPECT_EQ(ModeOf(dir / "run/vms"), 0755u);
  EXPECT_EQ(ModeOf(dir / "run/vms/uuid"), 0750u);
}

TEST(HostDirectoriesTest, AnExistingDirectoryGetsTheModeAndOwner) {
  testing::TempDirForTest dir;
  ASSERT_EQ(::mkdir((dir / "vm").c_str(), 0700), 0);
  ASSERT_TRUE(HostDirectories().Ensure(dir / "vm", false, Me(0750)).ok());
  EXPECT_EQ(ModeOf(dir / "vm"), 0750u);
}

TEST(HostDirectoriesTest, WithoutAnOwnerAnExistingDirectoryStaysAsItIs) {
  testing::TempDirForTest dir;
  ASSERT_EQ(::mkdir((dir / "vm").c_str(), 0711), 0);
  ASSERT_TRUE(HostDirectories().Ensure(dir / "vm", false, std::nullopt).ok());
  EXPECT_EQ(ModeOf(dir / "vm"), 0711u);
  ASSERT_TRUE(HostDirectories().Ensure(dir / "new", false, std::nullopt).ok());
  EXPECT_EQ(ModeOf(dir / "new"), 0700u);
}

TEST(HostDirectoriesTest, NeverFollowsASymlinkToGiveItsTargetAway) {
  testing::TempDirForTest dir;
  ASSERT_EQ(::mkdir((dir / "target").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((dir / "target").c_str(), (dir / "vm").c_str()), 0);
  Status s = HostDirectories().Ensure(dir / "vm", false, Me(0755));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("a symlink is refused"), std::string::npos) << s.message();
  EXPECT_EQ(ModeOf(dir / "target"), 0700u);
}

TEST(HostDirectoriesTest, RefusesAFileInTheWayAndAMissingParent) {
  testing::TempDirForTest dir;
  std::ofstream(dir / "file") << "x";
  Status s = HostDirectories().Ensure(dir / "file", false, std::nullopt);
  EXPECT_EQ(s.message(), dir / "file" + " exists and is not a directory");
  s = HostDirectories().Ensure(dir / "missing/vm", false, std::nullopt);
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_NE(s.message().find("cannot create directory " + (dir / "missing/vm")), std::string::npos);
  EXPECT_EQ(HostDirectories().Ensure("relative", false, std::nullopt).code(),
            ErrorCode::kInvalidArgument);
}

TEST(HostDirectoriesTest, AnUnknownOwnerIsRefusedBeforeAnythingChanges) {
  testing::TempDirForTest dir;
  ASSERT_EQ(::mkdir((dir / "vm").c_str(), 0700), 0);
  Status s =
      HostDirectories().Ensure(dir / "vm", false, DirectoryOwner{"no-such-user-mkd", "root", 0777});
  EXPECT_EQ(s.message(), "--vm-user no-such-user-mkd: no such user on this host");
  EXPECT_EQ(ModeOf(dir / "vm"), 0700u);
}

TEST(ResolveOwnerTest, NamesAndNumbers) {
  Result<OwnerIds> root = ResolveOwner("root", "root");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  Result<OwnerIds> numbers = ResolveOwner("12345", "23456");
  ASSERT_TRUE(numbers.ok());
  EXPECT_EQ(numbers->uid, 12345u);
  EXPECT_EQ(numbers->gid, 23456u);
  EXPECT_EQ(ResolveOwner("root", "no-such-group-mkd").status().message(),
            "--vm-group no-such-group-mkd: no such group on this host");
  EXPECT_FALSE(ResolveOwner("12x", "root").ok());
  EXPECT_FALSE(ResolveOwner("", "root").ok());
}

}  // namespace
}  // namespace mkd::libvirt
