// Reading a domain's uuid, name and memory from its XML, checking each value. Touches only the
// document.
#include "libvirt/domain_facts.h"

#include <vector>

namespace mkd::libvirt {
namespace {

constexpr size_t kMaxNameSize = 256;

// The one child element `name` of the root.
Result<xmlNode*> OnlyChild(const xmlNode* root, std::string_view name) {
  std::vector<xmlNode*> found = ChildElements(root, name, nullptr);
  if (found.size() != 1) {
    return Status::Corrupt("the domain XML has " + std::to_string(found.size()) + " <" +
                           std::string(name) + "> elements; a domain has exactly one");
  }
  return found[0];
}

}  // namespace

Result<uint64_t> MemoryBytes(std::string_view value, std::string_view unit) {
  // As libvirt's virScaleInteger: "b", "byte", "bytes"; or k, m, g, t, p, e (any case) alone or
  // with "iB" (powers of 1024), or with "B" (powers of 1000).
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  auto same = [&](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
  };
  uint64_t scale = 0;
  if (unit.empty()) {
    scale = 1024;
  } else if (same(unit, "b") || same(unit, "byte") || same(unit, "bytes")) {
    scale = 1;
  } else {
    static constexpr std::string_view kPowers = "kmgtpe";
    const size_t power = kPowers.find(lower(unit[0]));
    const std::string_view rest = unit.substr(1);
    uint64_t base = 0;
    if (rest.empty() || same(rest, "ib")) {
      base = 1024;
    } else if (same(rest, "b")) {
      base = 1000;
    }
    if (power != std::string_view::npos && base != 0) {
      scale = 1;
      for (size_t i = 0; i <= power; ++i) scale *= base;
    }
  }
  if (scale == 0) {
    return Status::Corrupt("<memory unit='" + std::string(unit.substr(0, 16)) +
                           "'> is not a unit libvirt knows");
  }
  if (value.empty() || value.size() > 20) {
    return Status::Corrupt("<memory> must be a decimal number, got '" +
                           std::string(value.substr(0, 24)) + "'");
  }
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9' || __builtin_mul_overflow(n, uint64_t{10}, &n) ||
        __builtin_add_overflow(n, static_cast<uint64_t>(c - '0'), &n)) {
      return Status::Corrupt("<memory> must be a decimal number of at most 2^64 bytes, got '" +
                             std::string(value.substr(0, 24)) + "'");
    }
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, scale, &bytes)) {
    return Status::Corrupt("<memory> " + std::string(value) + " " + std::string(unit) +
                           " is more than 2^64 bytes");
  }
  return bytes;
}

Result<DomainFacts> ReadDomainFacts(const XmlDocument& doc) {
  const xmlNode* root = doc.root();
  if (!IsElement(root, "domain", nullptr)) {
    return Status::Corrupt("the XML's root element is <" + std::string(NodeName(root)) +
                           ">, not a libvirt <domain>");
  }
  DomainFacts facts;
  MKD_ASSIGN_OR_RETURN(xmlNode * uuid_node, OnlyChild(root, "uuid"));
  MKD_ASSIGN_OR_RETURN(std::string uuid_text, ElementText(uuid_node, "<uuid>"));
  Result<Uuid> uuid = Uuid::Parse(uuid_text);
  if (!uuid.ok()) {
    return Status::Corrupt("<uuid> is not a UUID in the 8-4-4-4-12 form: " +
                           uuid.status().message());
  }
  facts.uuid = *uuid;

  MKD_ASSIGN_OR_RETURN(xmlNode * name_node, OnlyChild(root, "name"));
  MKD_ASSIGN_OR_RETURN(facts.name, ElementText(name_node, "<name>"));
  if (facts.name.empty() || facts.name.size() > kMaxNameSize) {
    return Status::Corrupt("<name> must be 1 to 256 bytes");
  }
  // It goes into one-line messages; libvirt itself refuses a newline in a name.
  for (char c : facts.name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::Corrupt("<name> must not hold control characters");
    }
  }

  MKD_ASSIGN_OR_RETURN(xmlNode * memory_node, OnlyChild(root, "memory"));
  MKD_ASSIGN_OR_RETURN(std::string memory_text, ElementText(memory_node, "<memory>"));
  const std::string unit = Attribute(memory_node, "unit").value_or("");
  MKD_ASSIGN_OR_RETURN(facts.memory_bytes, MemoryBytes(memory_text, unit));
  return facts;
}

}  // namespace mkd::libvirt
