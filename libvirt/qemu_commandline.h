// The <qemu:commandline> of a libvirt domain XML: the QEMU arguments libvirt passes through
// unchanged (namespace kQemuNamespace, one <qemu:arg value='...'/> per argument). It is how a
// libvirt domain gets miyakodori's RAM file, console and monitor (MkdQemuArgs). Reads and
// changes an XmlDocument; touches nothing else. Thread-compatible (as the document).
#ifndef MKD_LIBVIRT_QEMU_COMMANDLINE_H_
#define MKD_LIBVIRT_QEMU_COMMANDLINE_H_

#include <string>
#include <vector>

#include "base/status.h"
#include "libvirt/xml_document.h"

namespace mkd::libvirt {

inline constexpr char kQemuNamespace[] = "http://libvirt.org/schemas/domain/qemu/1.0";

// The values of the <qemu:arg> elements of the root's <qemu:commandline>, in order; empty when
// the domain has no such element. Corrupt when there is more than one <qemu:commandline> or an
// arg has no value.
Result<std::vector<std::string>> ReadQemuArgs(const XmlDocument& doc);

// Replaces every <qemu:arg> of the root's <qemu:commandline> by `args` (in order, before its
// other children such as <qemu:env>, which stay), creating the element (and declaring the
// namespace on the root) when the domain has none. Everything else of the document stays as it
// was. Corrupt when there is more than one <qemu:commandline>.
Status ReplaceQemuArgs(XmlDocument* doc, const std::vector<std::string>& args);

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_QEMU_COMMANDLINE_H_
