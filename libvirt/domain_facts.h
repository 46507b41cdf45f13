// DomainFacts: what mkd-libvirt takes from a libvirt domain XML to decide about it (its identity
// and memory size), read defensively: the XML on a hook's stdin comes from libvirtd, and at
// `migrate begin` from the migration's source host. Reads an XmlDocument; touches nothing else.
// Pure functions; thread-safe.
#ifndef MKD_LIBVIRT_DOMAIN_FACTS_H_
#define MKD_LIBVIRT_DOMAIN_FACTS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/uuid.h"
#include "libvirt/xml_document.h"

namespace mkd::libvirt {

struct DomainFacts {
  Uuid uuid;                  // <uuid>, the canonical 36-character form libvirt prints
  std::string name;           // <name>, 1..256 bytes, no control characters
  uint64_t memory_bytes = 0;  // <memory unit='...'>, in bytes (libvirt's default unit is KiB)
};

// Reads the facts of a <domain> document. Corrupt, naming the element, when the root is not
// <domain>, or <name>, <uuid> or <memory> is missing, repeated, or not well-formed (a memory
// unit libvirt does not know, a number that is not decimal or overflows 64 bits in bytes).
Result<DomainFacts> ReadDomainFacts(const XmlDocument& doc);

// The bytes of `value` (decimal digits) in libvirt's memory `unit`, as libvirt reads it: empty
// (KiB), "b"/"byte"/"bytes", or k/m/g/t/p/e in any case alone or with "iB" (1024^n) or "B"
// (1000^n). Corrupt when either is not valid or the bytes overflow 64 bits.
Result<uint64_t> MemoryBytes(std::string_view value, std::string_view unit);

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_DOMAIN_FACTS_H_
