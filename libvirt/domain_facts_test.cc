// Tests of ReadDomainFacts and MemoryBytes: libvirt's own XML, its memory units, and every
// refusal of a malformed identity or size. Memory only.
#include "libvirt/domain_facts.h"

#include <gtest/gtest.h>

#include <string>

namespace mkd::libvirt {
namespace {

constexpr char kUuid[] = "6f1c2a9e-0b1d-4c3e-9f00-123456789abc";

Result<DomainFacts> Facts(const std::string& xml) {
  Result<XmlDocument> doc = XmlDocument::Parse(xml, "test");
  if (!doc.ok()) return doc.status();
  return ReadDomainFacts(*doc);
}

std::string Domain(const std::string& body) {
  return "<domain type='qemu' id='1'>" + body + "</domain>";
}

TEST(DomainFactsTest, ReadsWhatLibvirtPrints) {
  // As `virsh dumpxml` prints it: memory in KiB.
  Result<DomainFacts> facts = Facts(Domain(std::string("<name>web1</name><uuid>") + kUuid +
                                           "</uuid><memory unit='KiB'>262144</memory>"
                                           "<currentMemory unit='KiB'>262144</currentMemory>"));
  ASSERT_TRUE(facts.ok()) << facts.status().ToString();
  EXPECT_EQ(facts->name, "web1");
  EXPECT_EQ(facts->uuid.ToString(), kUuid);
  EXPECT_EQ(facts->memory_bytes, 256u << 20);
}

TEST(DomainFactsTest, MemoryUnitsAreLibvirts) {
  EXPECT_EQ(*MemoryBytes("262144", ""), 256u << 20);  // libvirt's default: KiB
  EXPECT_EQ(*MemoryBytes("256", "MiB"), 256u << 20);
  EXPECT_EQ(*MemoryBytes("256", "M"), 256u << 20);
  EXPECT_EQ(*MemoryBytes("256", "mib"), 256u << 20);
  EXPECT_EQ(*MemoryBytes("1", "G"), 1u << 30);
  EXPECT_EQ(*MemoryBytes("1", "GB"), 1000u * 1000 * 1000);
  EXPECT_EQ(*MemoryBytes("3", "KB"), 3000u);
  EXPECT_EQ(*MemoryBytes("7", "b"), 7u);
  EXPECT_EQ(*MemoryBytes("7", "bytes"), 7u);
  EXPECT_EQ(*MemoryBytes("2", "TiB"), uint64_t{2} << 40);
  EXPECT_EQ(*MemoryBytes("1", "e"), uint64_t{1} << 60);
  EXPECT_EQ(*MemoryBytes("18446744073709551615", "b"), UINT64_MAX);
}

TEST(DomainFactsTest, RefusesBadMemory) {
  for (const auto& [value, unit] : std::vector<std::pair<std::string, std::string>>{
           {"", "MiB"},
           {" 256", "MiB"},
           {"256 ", "MiB"},
           {"-1", "MiB"},
           {"0x100", "MiB"},
           {"1.5", "GiB"},
           {"18446744073709551616", "b"},  // 2^64
           {"16", "e"},                    // 2^64 bytes
           {"256", "Mi"},
           {"256", "MIBS"},
           {"256", "x"},
           {"256", "pages"},
       }) {
    Result<uint64_t> bytes = MemoryBytes(value, unit);
    ASSERT_FALSE(bytes.ok()) << value << " " << unit;
    EXPECT_EQ(bytes.status().code(), ErrorCode::kCorrupt);
    EXPECT_NE(bytes.status().message().find("<memory"), std::string::npos);
  }
}

TEST(DomainFactsTest, RefusesWhatIsNotOneWellFormedDomain) {
  const std::string name = "<name>web1</name>";
  const std::string uuid = std::string("<uuid>") + kUuid + "</uuid>";
  const std::string memory = "<memory unit='MiB'>256</memory>";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<network><name>a</name></network>", "not a libvirt <domain>"},
      {"<domain xmlns='urn:x'>" + name + uuid + memory + "</domain>", "not a libvirt <domain>"},
      {Domain(name + memory), "0 <uuid> elements"},
      {Domain(name + uuid + uuid + memory), "2 <uuid> elements"},
      {Domain(uuid + memory), "0 <name> elements"},
      {Domain(name + uuid), "0 <memory> elements"},
      {Domain(name + "<uuid>6f1c2a9e0b1d4c3e9f00123456789abc</uuid>" + memory), "<uuid> is not"},
      {Domain(name + "<uuid>" + kUuid + "<x/></uuid>" + memory), "<uuid> must hold only text"},
      {Domain("<name></name>" + uuid + memory), "<name> must be 1 to 256 bytes"},
      {Domain("<name>" + std::string(257, 'n') + "</name>" + uuid + memory), "<name> must be"},
      {Domain("<name>a\nb</name>" + uuid + memory), "<name> must not hold control characters"},
      {Domain("<name>a&#9;b</name>" + uuid + memory), "<name> must not hold control characters"},
      {Domain(name + uuid + "<memory unit='MiB'>lots</memory>"), "<memory> must be"},
  };
  for (const auto& [xml, message] : cases) {
    Result<DomainFacts> facts = Facts(xml);
    ASSERT_FALSE(facts.ok()) << xml;
    EXPECT_EQ(facts.status().code(), ErrorCode::kCorrupt) << xml;
    EXPECT_NE(facts.status().message().find(message), std::string::npos)
        << xml << ": " << facts.status().message();
  }
}

}  // namespace
}  // namespace mkd::libvirt
