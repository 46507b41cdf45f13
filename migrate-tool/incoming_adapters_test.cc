// Tests of the real host adapter's definition lookup (incoming_adapters.h): the refusal of a VM
// this host has no definition for rests on LoadDefinition answering "none" for a missing file,
// and an error (not "none") for a file that cannot be read as a definition.
#include "migrate-tool/incoming_adapters.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace mkd::migrate {
namespace {

class LocalHostTest : public ::testing::Test {
 protected:
  LocalHostTest() {
    char tmpl[] = "/tmp/mkd-localhost-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    host_ = NewLocalHost({dir_, "tcg", dir_ + "/accel.json", "qemu-system-x86_64"});
  }
  ~LocalHostTest() override { std::filesystem::remove_all(dir_); }
  void Write(const Uuid& vm, const std::string& text) {
    std::ofstream(dir_ + "/" + vm.ToString() + ".json") << text;
  }

  std::string dir_;
  std::unique_ptr<IncomingHost> host_;
  const Uuid vm_ = *Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
};

TEST_F(LocalHostTest, NoFileMeansNoDefinition) {
  EXPECT_EQ(host_->DefinitionPath(vm_), dir_ + "/" + vm_.ToString() + ".json");
  Result<std::optional<qemuconfig::VmDefinition>> d = host_->LoadDefinition(vm_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->has_value());
}

TEST_F(LocalHostTest, AFileIsLoadedAndABrokenOneIsAnError) {
  Write(vm_, R"({"uuid": "6f1c2a9e-0b1d-4c3e-9f00-123456789abc", "name": "web1",
    "memory_mib": 256, "boot": {"kernel": "/guest/vmlinuz"},
    "memory_backing": {"type": "memfs", "dir": "/run/miyakodori/mem"}})");
  Result<std::optional<qemuconfig::VmDefinition>> d = host_->LoadDefinition(vm_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_TRUE(d->has_value());
  EXPECT_EQ((*d)->name, "web1");
  EXPECT_EQ((*d)->backing, qemuconfig::MemoryBacking::kMemfs);
  Write(vm_, "{\"uuid\": ");
  EXPECT_FALSE(host_->LoadDefinition(vm_).ok());
}

}  // namespace
}  // namespace mkd::migrate
