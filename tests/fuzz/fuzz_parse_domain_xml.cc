// Fuzz target for what the libvirt hook reads on stdin (libvirt/xml_document.h, domain_facts.h,
// qemu_commandline.h): a domain XML, at `migrate begin` from the migration's source host. No
// input may crash libxml2 or our readers; a refusal is kCorrupt with a message; a document whose
// <qemu:commandline> was replaced prints as XML that parses again to the same uuid, name and
// memory and to exactly the new arguments.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/check.h"
#include "libvirt/domain_facts.h"
#include "libvirt/qemu_commandline.h"
#include "libvirt/xml_document.h"
#include "tests/fuzz/fuzz_support.h"

namespace lv = mkd::libvirt;

namespace {

void CheckRefusal(const mkd::Status& status) {
  MKD_CHECK(status.code() == mkd::ErrorCode::kCorrupt);
  MKD_CHECK(!status.message().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mkd::Result<lv::XmlDocument> doc =
      lv::XmlDocument::Parse(mkd::fuzz::AsBytes(data, size), "fuzz input");
  if (!doc.ok()) {
    CheckRefusal(doc.status());
    return 0;
  }
  mkd::Result<lv::DomainFacts> facts = lv::ReadDomainFacts(*doc);
  if (!facts.ok()) CheckRefusal(facts.status());
  mkd::Result<std::vector<std::string>> args = lv::ReadQemuArgs(*doc);
  if (!args.ok()) CheckRefusal(args.status());

  // What the hook puts there: values that need escaping, as paths and names may.
  const std::vector<std::string> replacement = {"-object", "id=mkd-ram,mem-path=/a b/<&>'\"/ram",
                                                ""};
  mkd::Status replaced = lv::ReplaceQemuArgs(&*doc, replacement);
  if (!replaced.ok()) {
    CheckRefusal(replaced);
    return 0;
  }
  const std::string text = doc->ToString(/*indent=*/false);
  mkd::Result<lv::XmlDocument> again = lv::XmlDocument::Parse(text, "printed");
  MKD_CHECK(again.ok());
  mkd::Result<std::vector<std::string>> new_args = lv::ReadQemuArgs(*again);
  MKD_CHECK(new_args.ok() && *new_args == replacement);
  if (facts.ok()) {
    mkd::Result<lv::DomainFacts> same = lv::ReadDomainFacts(*again);
    MKD_CHECK(same.ok());
    MKD_CHECK(same->uuid == facts->uuid && same->name == facts->name &&
              same->memory_bytes == facts->memory_bytes);
  }
  return 0;
}
