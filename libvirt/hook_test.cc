// Tests of the libvirt hook's decisions against fakes (hook_fakes.h): the migrate-begin rewrite
// to this host's paths and each of its refusals, the directories prepare-begin makes, and the
// operations it leaves alone. Memory only: the host is the fakes.
#include "libvirt/hook.h"

#include <gtest/gtest.h>

#include <string>

#include "libvirt/domain_facts.h"
#include "libvirt/domain_xml.h"
#include "libvirt/hook_fakes.h"
#include "libvirt/qemu_commandline.h"
#include "libvirt/xml_document.h"
#include "qemu-config/command_line.h"

namespace mkd::libvirt {
namespace {

using qemuconfig::MemoryBacking;
using qemuconfig::VmDefinition;
using testing::EnsureCall;

constexpr char kUuid[] = "6f1c2a9e-0b1d-4c3e-9f00-123456789abc";
constexpr char kRam[] = "/dst/mem/6f1c2a9e-0b1d-4c3e-9f00-123456789abc/ram";

// The VM as host B (this host, the destination) defines it.
VmDefinition ThisHostsVm() {
  VmDefinition vm;
  vm.uuid = *Uuid::Parse(kUuid);
  vm.name = "web1";
  vm.memory_mib = 256;
  vm.kernel = "/g/vmlinuz";
  vm.backing = MemoryBacking::kMemfs;
  vm.memory_dir = "/dst/mem";
  vm.run_dir = "/dst/run";
  vm.manager = qemuconfig::VmManager::kLibvirt;
  return vm;
}

// The domain XML as host A (the source) has it: its own paths, and things libvirt added.
std::string SourceXml() {
  VmDefinition vm = ThisHostsVm();
  vm.memory_dir = "/src/mem";
  vm.run_dir = "/src/run";
  vm.extra_args = {"-source-only-arg"};
  std::string xml = BuildDomainXml(vm, Accel::kTcg).value();
  const std::string close = "</domain>";
  xml.insert(xml.rfind(close), "  <on_crash>destroy</on_crash>\n  <seclabel type='none'/>\n");
  return xml;
}

class HookTest : public ::testing::Test {
 protected:
  HookTest() {
    definitions_.by_uuid[kUuid] = ThisHostsVm();
    memfs_.mounts.insert("/dst/mem");
    memfs_.states[kRam] = "incoming";
  }

  Result<std::string> Run(const std::string& operation, const std::string& subop,
                          const std::string& xml) {
    HookPorts ports{definitions_, memfs_, directories_};
    return RunHook({"web1", operation, subop, "-"}, xml, config_, ports);
  }
  // The refusal of a migrate begin; fails the test when it was accepted.
  std::string Refusal(const std::string& xml) {
    Result<std::string> out = Run("migrate", "begin", xml);
    EXPECT_FALSE(out.ok()) << *out;
    if (out.ok()) return "";
    EXPECT_EQ(out.status().message().find('\n'), std::string::npos);
    return out.status().message();
  }
  VmDefinition& Defined() { return definitions_.by_uuid[kUuid]; }

  testing::FakeDefinitions definitions_;
  testing::FakeMemfs memfs_;
  testing::FakeDirectories directories_;
  HookConfig config_;
};

TEST_F(HookTest, MigrateBeginPutsThisHostsPathsInTheArgsAndKeepsTheRest) {
  Result<std::string> out = Run("migrate", "begin", SourceXml());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->find("/src/"), std::string::npos) << *out;
  EXPECT_EQ(out->find("-source-only-arg"), std::string::npos) << *out;
  Result<XmlDocument> doc = XmlDocument::Parse(*out, "hook output");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(*ReadQemuArgs(*doc), qemuconfig::MkdQemuArgs(ThisHostsVm()));
  EXPECT_NE(out->find("mem-path=" + std::string(kRam) + ",share=on"), std::string::npos);
  Result<DomainFacts> facts = ReadDomainFacts(*doc);
  ASSERT_TRUE(facts.ok());
  EXPECT_EQ(facts->name, "web1");
  EXPECT_EQ(facts->uuid.ToString(), kUuid);
  EXPECT_EQ(facts->memory_bytes, 256u << 20);
  EXPECT_NE(out->find("<on_crash>destroy</on_crash>"), std::string::npos);
  EXPECT_NE(out->find("<seclabel type=\"none\"/>"), std::string::npos);
  EXPECT_NE(out->find("<kernel>/g/vmlinuz</kernel>"), std::string::npos);
  EXPECT_EQ(Attribute(doc->root(), "type"), "qemu");
  EXPECT_EQ(memfs_.calls,
            (std::vector<std::string>{"check_mount /dst/mem", "state " + std::string(kRam)}));
  EXPECT_TRUE(directories_.calls.empty());
}

TEST_F(HookTest, MigrateBeginAddsThisHostsExtraArgs) {
  Defined().extra_args = {"-device", "virtio-rng-pci"};
  Result<std::string> out = Run("migrate", "begin", SourceXml());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*ReadQemuArgs(*XmlDocument::Parse(*out, "out")), DomainQemuArgs(Defined()));
}

TEST_F(HookTest, MigrateBeginRefusesAVmThisHostHasNoDefinitionOf) {
  definitions_.by_uuid.clear();
  const std::string message = Refusal(SourceXml());
  EXPECT_NE(message.find("refusing the migration of domain web1 (" + std::string(kUuid) + ")"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("this host has no definition of VM " + std::string(kUuid) +
                         " (/etc/miyakodori/vms/" + kUuid + ".json)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("a host receives no VM it was not configured for"), std::string::npos);
  EXPECT_TRUE(memfs_.calls.empty());
}

TEST_F(HookTest, MigrateBeginRefusesAnUnreadableDefinition) {
  definitions_.errors[kUuid] = Status::InvalidArgument("/etc/x.json: memory_mib: must be a number");
  EXPECT_NE(Refusal(SourceXml()).find("/etc/x.json: memory_mib: must be a number"),
            std::string::npos);
}

TEST_F(HookTest, MigrateBeginRefusesAVmNotManagedByLibvirt) {
  Defined().manager = qemuconfig::VmManager::kMkdVm;
  const std::string message = Refusal(SourceXml());
  EXPECT_NE(message.find("started by mkd-vm, not libvirt: move it with mkd-migrate"),
            std::string::npos)
      << message;
}

TEST_F(HookTest, MigrateBeginRefusesAnotherName) {
  Defined().name = "web2";
  const std::string message = Refusal(SourceXml());
  EXPECT_NE(message.find("the domain is named web1 but /etc/miyakodori/vms/" + std::string(kUuid) +
                         ".json names the VM web2"),
            std::string::npos)
      << message;
}

TEST_F(HookTest, MigrateBeginRefusesAnotherMemorySize) {
  Defined().memory_mib = 512;
  const std::string message = Refusal(SourceXml());
  EXPECT_NE(message.find("the domain has 256 MiB of memory but"), std::string::npos) << message;
  EXPECT_NE(message.find("says 512 MiB"), std::string::npos) << message;
}

TEST_F(HookTest, MigrateBeginOnMemfsRefusesARamFileThatIsNotIncoming) {
  for (const char* state : {"live", "stored"}) {
    memfs_.states[kRam] = state;
    const std::string message = Refusal(SourceXml());
    EXPECT_NE(message.find("its RAM file " + std::string(kRam) + " is " + state +
                           ", not incoming: migrate it with mkd-migrate"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("stale memory"), std::string::npos);
  }
  memfs_.states.clear();
  EXPECT_NE(Refusal(SourceXml()).find("is missing, not incoming"), std::string::npos);
  memfs_.state_errors[kRam] = Status::FailedPrecondition("RAM file x is not on a mkd-memfs mount");
  EXPECT_NE(Refusal(SourceXml()).find("RAM file x is not on a mkd-memfs mount"), std::string::npos);
}

TEST_F(HookTest, MigrateBeginOnMemfsRefusesADirectoryThatIsNotMemfs) {
  memfs_.mounts.clear();
  EXPECT_NE(Refusal(SourceXml()).find("/dst/mem is not a mounted mkd-memfs"), std::string::npos);
  EXPECT_EQ(memfs_.calls, std::vector<std::string>{"check_mount /dst/mem"});
}

TEST_F(HookTest, MigrateBeginOnTmpfsNeedsNoArrival) {
  Defined().backing = MemoryBacking::kTmpfs;
  Defined().memory_dir = "/dev/shm/mkd";
  Result<std::string> out = Run("migrate", "begin", SourceXml());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_NE(out->find("mem-path=/dev/shm/mkd/" + std::string(kUuid) + "/ram"), std::string::npos);
  EXPECT_TRUE(memfs_.calls.empty());
}

TEST_F(HookTest, MigrateBeginRefusesXmlItCannotRead) {
  EXPECT_NE(Refusal("<domain>").find("not well-formed XML"), std::string::npos);
  EXPECT_NE(Refusal("<domain><name>web1</name></domain>").find("0 <uuid> elements"),
            std::string::npos);
  EXPECT_TRUE(definitions_.calls.empty());
}

TEST_F(HookTest, PrepareBeginOnMemfsMakesTheVmDirectoryAndQemusRunDirectory) {
  memfs_.states.clear();  // a cold boot: memfs makes a new RAM file
  Result<std::string> out = Run("prepare", "begin", SourceXml());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "");
  EXPECT_EQ(memfs_.calls,
            (std::vector<std::string>{"check_mount /dst/mem", "state " + std::string(kRam)}));
  const DirectoryOwner qemu{"libvirt-qemu", "kvm", 0750};
  EXPECT_EQ(directories_.calls, (std::vector<EnsureCall>{
                                    {"/dst/mem/" + std::string(kUuid), false, std::nullopt},
                                    {"/dst/run/" + std::string(kUuid), true, qemu},
                                }));
}

TEST_F(HookTest, PrepareBeginOnMemfsLetsQemuOpenAnIncomingOrArrivingRamFile) {
  const std::string vm_dir = "/dst/mem/" + std::string(kUuid);
  ASSERT_TRUE(Run("prepare", "begin", SourceXml()).ok());  // incoming
  memfs_.states[kRam] = "stored";
  memfs_.arrivals.insert(vm_dir);
  memfs_.calls.clear();
  Result<std::string> out = Run("prepare", "begin", SourceXml());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(memfs_.calls,
            (std::vector<std::string>{"check_mount /dst/mem", "state " + std::string(kRam),
                                      "arrival " + vm_dir}));
  EXPECT_EQ(directories_.calls.size(), 4u);
}

TEST_F(HookTest, PrepareBeginOnMemfsRefusesARamFileQemuCouldNotOpen) {
  memfs_.states[kRam] = "stored";
  Result<std::string> out = Run("prepare", "begin", SourceXml());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "refusing to start domain web1: its RAM file " + std::string(kRam) +
                " is stored: the memory the VM left on this host, and no arrival is pending. "
                "Bring the VM here with mkd-migrate; or, if you mean a cold boot that drops that "
                "memory, remove the file first (rm " +
                kRam + ")");
  memfs_.states[kRam] = "live";
  out = Run("prepare", "begin", SourceXml());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "refusing to start domain web1: its RAM file " +
                                        std::string(kRam) +
                                        " is live: a QEMU on this host runs this VM already");
  memfs_.states.erase(kRam);
  memfs_.state_errors[kRam] = Status::FailedPrecondition("RAM file x is not on a mkd-memfs mount");
  out = Run("prepare", "begin", SourceXml());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "refusing to start domain web1: RAM file x is not on a mkd-memfs mount");
  EXPECT_TRUE(directories_.calls.empty());
}

TEST_F(HookTest, PrepareBeginOnTmpfsGivesTheVmDirectoryToQemusUser) {
  Defined().backing = MemoryBacking::kTmpfs;
  Defined().memory_dir = "/dev/shm/mkd";
  config_.vm_user = "qemu-user";
  config_.vm_group = "qemu-group";
  ASSERT_TRUE(Run("prepare", "begin", SourceXml()).ok());
  const DirectoryOwner qemu{"qemu-user", "qemu-group", 0750};
  EXPECT_EQ(directories_.calls, (std::vector<EnsureCall>{
                                    {"/dev/shm/mkd/" + std::string(kUuid), true, qemu},
                                    {"/dst/run/" + std::string(kUuid), true, qemu},
                                }));
  EXPECT_TRUE(memfs_.calls.empty());
}

TEST_F(HookTest, PrepareBeginLeavesOtherDomainsAlone) {
  definitions_.by_uuid.clear();
  Result<std::string> out = Run("prepare", "begin", SourceXml());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "");
  definitions_.by_uuid[kUuid] = ThisHostsVm();
  Defined().manager = qemuconfig::VmManager::kMkdVm;
  out = Run("prepare", "begin", SourceXml());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "");
  EXPECT_TRUE(directories_.calls.empty());
  EXPECT_TRUE(memfs_.calls.empty());
}

TEST_F(HookTest, PrepareBeginRefusesToStartWithoutMemfsMounted) {
  memfs_.mounts.clear();
  Result<std::string> out = Run("prepare", "begin", SourceXml());
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find(
                "refusing to start domain web1: memory_backing.dir /dst/mem is not a mounted "
                "mkd-memfs"),
            std::string::npos)
      << out.status().message();
  EXPECT_TRUE(directories_.calls.empty());
}

TEST_F(HookTest, PrepareBeginRefusesWhenADirectoryCannotBeMade) {
  directories_.errors["/dst/run/" + std::string(kUuid)] =
      Status::Io("cannot create directory /dst/run: Read-only file system");
  Result<std::string> out = Run("prepare", "begin", SourceXml());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "refusing to start domain web1: cannot create directory /dst/run: Read-only file "
            "system");
}

TEST_F(HookTest, PrepareBeginRefusesABrokenDefinition) {
  definitions_.errors[kUuid] = Status::InvalidArgument("/etc/x.json: not valid JSON");
  Result<std::string> out = Run("prepare", "begin", SourceXml());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(), "refusing to start domain web1: /etc/x.json: not valid JSON");
}

TEST_F(HookTest, EveryOtherOperationDoesNothing) {
  for (const auto& [operation, subop] : std::vector<std::pair<std::string, std::string>>{
           {"start", "begin"},
           {"started", "begin"},
           {"stopped", "end"},
           {"release", "end"},
           {"migrate", "end"},
           {"prepare", "end"},
           {"restore", "begin"},
           {"reconnect", "begin"},
           {"attach", "begin"},
       }) {
    const HookCall call{"web1", operation, subop, "-"};
    EXPECT_FALSE(ReadsDomainXml(call)) << operation << " " << subop;
    Result<std::string> out = Run(operation, subop, "not even XML");
    ASSERT_TRUE(out.ok()) << operation;
    EXPECT_EQ(*out, "");
  }
  EXPECT_TRUE(ReadsDomainXml({"web1", "migrate", "begin", "-"}));
  EXPECT_TRUE(ReadsDomainXml({"web1", "prepare", "begin", "-"}));
  EXPECT_TRUE(definitions_.calls.empty());
  EXPECT_TRUE(memfs_.calls.empty());
  EXPECT_TRUE(directories_.calls.empty());
}

}  // namespace
}  // namespace mkd::libvirt
