// Tests of BuildDomainXml: the XML parses back to the definition's identity, memory and exact
// QEMU arguments; kernel and disk boots; the accelerator; the refusals. Memory only.
#include "libvirt/domain_xml.h"

#include <gtest/gtest.h>

#include <string>

#include "libvirt/domain_facts.h"
#include "libvirt/qemu_commandline.h"
#include "libvirt/xml_document.h"
#include "qemu-config/command_line.h"

namespace mkd::libvirt {
namespace {

using qemuconfig::VmDefinition;

VmDefinition Vm() {
  VmDefinition vm;
  vm.uuid = *Uuid::Parse("6f1c2a9e-0b1d-4c3e-9f00-123456789abc");
  vm.name = "web1";
  vm.memory_mib = 256;
  vm.vcpus = 2;
  vm.machine = "q35";
  vm.kernel = "/g/vmlinuz";
  vm.initrd = "/g/initrd";
  vm.append = "console=ttyS0 mkd.run=checker <&'\">";
  vm.backing = qemuconfig::MemoryBacking::kMemfs;
  vm.memory_dir = "/run/mem";
  vm.run_dir = "/run/vms";
  vm.extra_args = {"-device", "virtio-rng-pci"};
  vm.manager = qemuconfig::VmManager::kLibvirt;
  return vm;
}

XmlDocument Parsed(const VmDefinition& vm, Accel accel) {
  Result<std::string> xml = BuildDomainXml(vm, accel);
  EXPECT_TRUE(xml.ok()) << xml.status().ToString();
  Result<XmlDocument> doc = XmlDocument::Parse(*xml, "domain-xml");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString() << "\n" << *xml;
  return std::move(doc).value();
}

std::string Text(const xmlNode* parent, const char* name) {
  std::vector<xmlNode*> found = ChildElements(parent, name, nullptr);
  return found.size() == 1 ? ElementText(found[0], name).value()
                           : "(" + std::to_string(found.size()) + ")";
}

xmlNode* Child(const xmlNode* parent, const char* name) {
  std::vector<xmlNode*> found = ChildElements(parent, name, nullptr);
  EXPECT_EQ(found.size(), 1u) << name;
  return found.empty() ? nullptr : found[0];
}

TEST(DomainXmlTest, ParsesBackToTheDefinitionAndItsExactQemuArgs) {
  const VmDefinition vm = Vm();
  XmlDocument doc = Parsed(vm, Accel::kKvm);
  Result<DomainFacts> facts = ReadDomainFacts(doc);
  ASSERT_TRUE(facts.ok()) << facts.status().ToString();
  EXPECT_EQ(facts->uuid, vm.uuid);
  EXPECT_EQ(facts->name, "web1");
  EXPECT_EQ(facts->memory_bytes, 256u << 20);
  EXPECT_EQ(Attribute(Child(doc.root(), "memory"), "unit"), "MiB");
  EXPECT_EQ(Text(doc.root(), "vcpu"), "2");
  EXPECT_EQ(Attribute(doc.root(), "type"), "kvm");

  std::vector<std::string> expected = qemuconfig::MkdQemuArgs(vm);
  expected.insert(expected.end(), {"-device", "virtio-rng-pci"});
  EXPECT_EQ(DomainQemuArgs(vm), expected);
  EXPECT_EQ(*ReadQemuArgs(doc), expected);
  EXPECT_EQ(expected[1],
            "memory-backend-file,id=mkd-ram,size=256M,"
            "mem-path=/run/mem/6f1c2a9e-0b1d-4c3e-9f00-123456789abc/ram,share=on");

  xmlNode* os = Child(doc.root(), "os");
  xmlNode* type = Child(os, "type");
  EXPECT_EQ(*ElementText(type, "type"), "hvm");
  EXPECT_EQ(Attribute(type, "arch"), "x86_64");
  EXPECT_EQ(Attribute(type, "machine"), "q35");
  EXPECT_EQ(Text(os, "kernel"), "/g/vmlinuz");
  EXPECT_EQ(Text(os, "initrd"), "/g/initrd");
  EXPECT_EQ(Text(os, "cmdline"), "console=ttyS0 mkd.run=checker <&'\">");

  xmlNode* devices = Child(doc.root(), "devices");
  EXPECT_EQ(Attribute(Child(devices, "memballoon"), "model"), "none");
  EXPECT_TRUE(ChildElements(devices, "disk", nullptr).empty());
}

TEST(DomainXmlTest, TcgIsDomainTypeQemu) {
  EXPECT_EQ(Attribute(Parsed(Vm(), Accel::kTcg).root(), "type"), "qemu");
}

TEST(DomainXmlTest, ADiskBootIsAVirtioDiskWithoutHostCache) {
  VmDefinition vm = Vm();
  vm.kernel = vm.initrd = vm.append = "";
  vm.disk = "/images/web1.qcow2";
  XmlDocument doc = Parsed(vm, Accel::kKvm);
  xmlNode* os = Child(doc.root(), "os");
  EXPECT_EQ(Attribute(Child(os, "boot"), "dev"), "hd");
  EXPECT_TRUE(ChildElements(os, "kernel", nullptr).empty());
  xmlNode* disk = Child(Child(doc.root(), "devices"), "disk");
  EXPECT_EQ(Attribute(disk, "type"), "file");
  EXPECT_EQ(Attribute(Child(disk, "driver"), "type"), "qcow2");
  EXPECT_EQ(Attribute(Child(disk, "driver"), "cache"), "none");
  EXPECT_EQ(Attribute(Child(disk, "source"), "file"), "/images/web1.qcow2");
  EXPECT_EQ(Attribute(Child(disk, "target"), "bus"), "virtio");

  vm.disk = "/images/web1.img";
  EXPECT_EQ(
      Attribute(Child(Child(Child(Parsed(vm, Accel::kKvm).root(), "devices"), "disk"), "driver"),
                "type"),
      "raw");
}

TEST(DomainXmlTest, RefusesADefinitionNotManagedByLibvirt) {
  VmDefinition vm = Vm();
  vm.manager = qemuconfig::VmManager::kMkdVm;
  Result<std::string> xml = BuildDomainXml(vm, Accel::kKvm);
  ASSERT_FALSE(xml.ok());
  EXPECT_EQ(xml.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(xml.status().message().find("add \"manager\": \"libvirt\""), std::string::npos)
      << xml.status().message();
}

TEST(DomainXmlTest, RefusesANetworkForNow) {
  for (qemuconfig::NetworkType network :
       {qemuconfig::NetworkType::kUser, qemuconfig::NetworkType::kTap}) {
    VmDefinition vm = Vm();
    vm.network = network;
    vm.tap_ifname = "tap0";
    Result<std::string> xml = BuildDomainXml(vm, Accel::kKvm);
    ASSERT_FALSE(xml.ok());
    EXPECT_NE(xml.status().message().find("supports only \"network\": {\"type\": \"none\"}"),
              std::string::npos)
        << xml.status().message();
  }
}

}  // namespace
}  // namespace mkd::libvirt
