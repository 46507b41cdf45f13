// Tests of MountedMemfs without a memfs mount: a plain directory and file are refused as not
// memfs; with the summary attribute set by hand (where the file system takes user attributes),
// the state is read through memfs-protocol's parser. Touches its temporary directory only.
#include "libvirt/mounted_memfs.h"

#include <gtest/gtest.h>
#include <sys/xattr.h>

#include <fstream>
#include <string>

#include "base/temp_dir_for_test.h"
#include "memfs-protocol/names.h"
#include "memfs-protocol/summary.h"

namespace mkd::libvirt {
namespace {

namespace mp = memfs_protocol;

// Sets the summary attribute by hand; false when this file system takes no user attributes.
bool SetSummary(const std::string& path, const std::string& line) {
  const std::string name(mp::kSummary);
  return ::setxattr(path.c_str(), name.c_str(), line.data(), line.size(), 0) == 0;
}

TEST(MountedMemfsTest, APlainDirectoryIsNotAMount) {
  testing::TempDirForTest dir;
  MountedMemfs memfs;
  Status s = memfs.CheckMount(dir.path());
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "memory_backing.dir " + dir.path() +
                             " is not a mounted mkd-memfs: start mkd-memfs there first");
  s = memfs.CheckMount(dir / "missing");
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_NE(s.message().find("does not exist: mount mkd-memfs there first"), std::string::npos);
}

TEST(MountedMemfsTest, AMissingRamFileHasNoState) {
  testing::TempDirForTest dir;
  Result<std::optional<std::string>> state = MountedMemfs().RamFileState(dir / "ram");
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_FALSE(state->has_value());
}

TEST(MountedMemfsTest, APlainFileIsNotOnMemfs) {
  testing::TempDirForTest dir;
  std::ofstream(dir / "ram") << "x";
  Result<std::optional<std::string>> state = MountedMemfs().RamFileState(dir / "ram");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().message(), "RAM file " + (dir / "ram") + " is not on a mkd-memfs mount");
}

TEST(MountedMemfsTest, ReadsTheStateFromTheSummary) {
  testing::TempDirForTest dir;
  const std::string ram = dir / "ram";
  std::ofstream(ram) << "x";
  mp::BlockSummary summary;
  summary.state = "incoming";
  summary.vm = *Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  summary.block = "ram";
  summary.incarnation = 2;
  summary.epoch = 3;
  summary.lineage = summary.vm;
  summary.pages = 65536;
  if (!SetSummary(ram, mp::FormatBlockSummary(summary))) {
    GTEST_SKIP() << dir.path() << " takes no user extended attributes";
  }
  Result<std::optional<std::string>> state = MountedMemfs().RamFileState(ram);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(*state, "incoming");

  ASSERT_TRUE(SetSummary(ram, "state=incoming"));
  state = MountedMemfs().RamFileState(ram);
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(state.status().message().find(ram + ": "), 0u) << state.status().message();
}

TEST(MountedMemfsTest, ReadsAPendingArrivalFromTheVmDirectorysSummary) {
  testing::TempDirForTest dir;
  MountedMemfs memfs;
  Result<bool> pending = memfs.ArrivalPending(dir / "missing");
  ASSERT_TRUE(pending.ok());
  EXPECT_FALSE(*pending);
  pending = memfs.ArrivalPending(dir.path());
  ASSERT_FALSE(pending.ok());
  EXPECT_NE(pending.status().message().find("is not on a mkd-memfs mount"), std::string::npos);
  mp::VmSummary vm;
  vm.vm = *Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  vm.blocks = {{"ram", "stored"}};
  if (!SetSummary(dir.path(), mp::FormatVmSummary(vm))) {
    GTEST_SKIP() << dir.path() << " takes no user extended attributes";
  }
  pending = memfs.ArrivalPending(dir.path());
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_FALSE(*pending);
  vm.arrival = mp::Arrival{4, vm.vm};
  ASSERT_TRUE(SetSummary(dir.path(), mp::FormatVmSummary(vm)));
  pending = memfs.ArrivalPending(dir.path());
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_TRUE(*pending);
}

TEST(MountedMemfsTest, AHostSummaryMakesAMount) {
  testing::TempDirForTest dir;
  mp::HostSummary host;
  host.host_id = "b";
  if (!SetSummary(dir.path(), mp::FormatHostSummary(host))) {
    GTEST_SKIP() << dir.path() << " takes no user extended attributes";
  }
  EXPECT_TRUE(MountedMemfs().CheckMount(dir.path()).ok());
  ASSERT_TRUE(SetSummary(dir.path(), "vm=x"));
  Status s = MountedMemfs().CheckMount(dir.path());
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("is not the root of a mkd-memfs mount"), std::string::npos);
}

}  // namespace
}  // namespace mkd::libvirt
