// Tests for the VM definition parser: a complete definition, defaults, and one error per rule.
#include "qemu-config/vm_definition.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mkd::qemuconfig {
namespace {

nlohmann::json Good() {
  return nlohmann::json::parse(R"({
    "uuid": "6f1c2a9e-0b1d-4c3e-9f00-123456789abc",
    "name": "web1",
    "memory_mib": 256,
    "vcpus": 2,
    "boot": {"kernel": "/guest/vmlinuz", "initrd": "/guest/initrd", "append": "console=ttyS0"},
    "memory_backing": {"type": "memfs", "dir": "/run/miyakodori/mem"},
    "network": {"type": "user", "mac": "52:54:00:12:34:56"},
    "run_dir": "/run/mkd-test",
    "extra_args": ["-rtc", "base=utc"]
  })");
}

Result<VmDefinition> Parse(const nlohmann::json& j) { return ParseVmDefinition(j.dump()); }

TEST(VmDefinitionTest, ParsesACompleteDefinition) {
  Result<VmDefinition> vm = Parse(Good());
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  EXPECT_EQ(vm->uuid.ToString(), "6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  EXPECT_EQ(vm->name, "web1");
  EXPECT_EQ(vm->memory_mib, 256u);
  EXPECT_EQ(vm->vcpus, 2u);
  EXPECT_EQ(vm->kernel, "/guest/vmlinuz");
  EXPECT_EQ(vm->backing, MemoryBacking::kMemfs);
  EXPECT_EQ(vm->memory_dir, "/run/miyakodori/mem");
  EXPECT_EQ(vm->network, NetworkType::kUser);
  EXPECT_EQ(vm->extra_args.size(), 2u);
}

TEST(VmDefinitionTest, AppliesDefaults) {
  nlohmann::json j = Good();
  j.erase("name");
  j.erase("vcpus");
  j.erase("network");
  j.erase("run_dir");
  Result<VmDefinition> vm = Parse(j);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  EXPECT_EQ(vm->name, "6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  EXPECT_EQ(vm->vcpus, 1u);
  EXPECT_EQ(vm->network, NetworkType::kNone);
  EXPECT_EQ(vm->run_dir, "/run/miyakodori/vms");
  EXPECT_EQ(vm->machine, "pc");
  EXPECT_EQ(vm->manager, VmManager::kMkdVm);
}

TEST(VmDefinitionTest, ALibvirtDomainSaysSo) {
  nlohmann::json j = Good();
  j["manager"] = "libvirt";
  Result<VmDefinition> vm = Parse(j);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  EXPECT_EQ(vm->manager, VmManager::kLibvirt);
  EXPECT_EQ(ManagerName(vm->manager), "libvirt");
}

TEST(VmDefinitionTest, RejectsEachBrokenRuleNamingTheField) {
  struct Case {
    const char* pointer;
    nlohmann::json value;
    const char* field;
  };
  const Case cases[] = {
      {"/uuid", "not-a-uuid", "uuid"},
      {"/memory_mib", 8, "memory_mib"},
      {"/memory_mib", "256", "memory_mib"},
      {"/vcpus", 0, "vcpus"},
      {"/name", "a,b", "name"},
      {"/boot/kernel", "relative/vmlinuz", "boot.kernel"},
      {"/boot/initrd", "/a,b", "boot.initrd"},
      {"/boot/disk", "/disk.img", "boot"},
      {"/memory_backing/type", "nfs", "memory_backing.type"},
      {"/memory_backing/dir", "", "memory_backing.dir"},
      {"/network/type", "bridge", "network.type"},
      {"/network/mac", "52:54:00", "network.mac"},
      {"/run_dir", "run", "run_dir"},
      {"/extra_args", "-s", "extra_args"},
      {"/surprise", 1, "surprise"},
      {"/boot/cmdline", "x", "boot.cmdline"},
      {"/manager", "virsh", "manager"},
      {"/manager", 1, "manager"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = Good();
    j[nlohmann::json::json_pointer(c.pointer)] = c.value;
    Result<VmDefinition> vm = Parse(j);
    ASSERT_FALSE(vm.ok()) << c.pointer;
    EXPECT_NE(vm.status().message().find(c.field), std::string::npos)
        << c.pointer << ": " << vm.status().message();
  }
}

TEST(VmDefinitionTest, RejectsMissingRequiredParts) {
  for (const char* field : {"uuid", "memory_mib", "boot", "memory_backing"}) {
    nlohmann::json j = Good();
    j.erase(field);
    Result<VmDefinition> vm = Parse(j);
    ASSERT_FALSE(vm.ok()) << field;
    EXPECT_NE(vm.status().message().find(field), std::string::npos) << vm.status().message();
  }
  nlohmann::json tap = Good();
  tap["network"] = {{"type", "tap"}};
  EXPECT_FALSE(Parse(tap).ok());
  EXPECT_FALSE(ParseVmDefinition("{").ok());
  EXPECT_FALSE(ParseVmDefinition("[]").ok());
  EXPECT_FALSE(ParseVmDefinition(std::string(70000, ' ')).ok());
}

TEST(VmDefinitionTest, LoadNamesTheFile) {
  Result<VmDefinition> vm = LoadVmDefinition("/nonexistent/vm.json");
  ASSERT_FALSE(vm.ok());
  EXPECT_NE(vm.status().message().find("/nonexistent/vm.json"), std::string::npos);
}

}  // namespace
}  // namespace mkd::qemuconfig
