// Tests of VmDirDefinitions on a temporary directory: a missing file is "none", anything else
// wrong is an error naming the file. Touches its temporary directory only.
#include "libvirt/vm_dir_definitions.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "base/temp_dir_for_test.h"

namespace mkd::libvirt {
namespace {

constexpr char kUuid[] = "6f1c2a9e-0b1d-4c3e-9f00-123456789abc";
constexpr char kOther[] = "00000000-0000-4000-8000-000000000001";

std::string Definition(const std::string& uuid) {
  return R"({"uuid": ")" + uuid + R"(", "name": "web1", "memory_mib": 256,
    "boot": {"kernel": "/g/vmlinuz"}, "memory_backing": {"type": "memfs", "dir": "/run/mem"},
    "manager": "libvirt"})";
}

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(VmDirDefinitionsTest, FindsTheDefinitionNamedByTheUuid) {
  testing::TempDirForTest dir;
  Write(dir / (std::string(kUuid) + ".json"), Definition(kUuid));
  VmDirDefinitions definitions(dir.path());
  const Uuid uuid = *Uuid::Parse(kUuid);
  EXPECT_EQ(definitions.PathOf(uuid), dir / (std::string(kUuid) + ".json"));
  Result<std::optional<qemuconfig::VmDefinition>> found = definitions.Find(uuid);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->name, "web1");
  EXPECT_EQ((*found)->manager, qemuconfig::VmManager::kLibvirt);
}

TEST(VmDirDefinitionsTest, AMissingFileIsNoDefinition) {
  testing::TempDirForTest dir;
  Result<std::optional<qemuconfig::VmDefinition>> found =
      VmDirDefinitions(dir.path()).Find(*Uuid::Parse(kUuid));
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
  // Also when the directory itself is missing.
  found = VmDirDefinitions(dir / "none").Find(*Uuid::Parse(kUuid));
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

TEST(VmDirDefinitionsTest, RefusesAnInvalidDefinitionNamingTheFile) {
  testing::TempDirForTest dir;
  const std::string path = dir / (std::string(kUuid) + ".json");
  Write(path, "{\"uuid\": ");
  Result<std::optional<qemuconfig::VmDefinition>> found =
      VmDirDefinitions(dir.path()).Find(*Uuid::Parse(kUuid));
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.status().message().find(path), std::string::npos) << found.status().message();
}

TEST(VmDirDefinitionsTest, RefusesADefinitionOfAnotherVm) {
  testing::TempDirForTest dir;
  Write(dir / (std::string(kUuid) + ".json"), Definition(kOther));
  Result<std::optional<qemuconfig::VmDefinition>> found =
      VmDirDefinitions(dir.path()).Find(*Uuid::Parse(kUuid));
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.status().message().find("is of VM " + std::string(kOther) + "; rename it to " +
                                          kOther + ".json"),
            std::string::npos)
      << found.status().message();
}

TEST(VmDirDefinitionsTest, RefusesADirectoryInPlaceOfTheFile) {
  testing::TempDirForTest dir;
  ASSERT_EQ(::mkdir((dir / (std::string(kUuid) + ".json")).c_str(), 0700), 0);
  Result<std::optional<qemuconfig::VmDefinition>> found =
      VmDirDefinitions(dir.path()).Find(*Uuid::Parse(kUuid));
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.status().message().find("is not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace mkd::libvirt
