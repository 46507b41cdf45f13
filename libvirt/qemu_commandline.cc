// Reading and replacing the <qemu:arg> elements of a domain's <qemu:commandline>. Touches only
// the document.
#include "libvirt/qemu_commandline.h"

#include <string_view>

namespace mkd::libvirt {
namespace {

// The root's <qemu:commandline>, nullptr when there is none.
Result<xmlNode*> FindCommandline(const XmlDocument& doc) {
  std::vector<xmlNode*> found = ChildElements(doc.root(), "commandline", kQemuNamespace);
  if (found.size() > 1) {
    return Status::Corrupt("the domain XML has " + std::to_string(found.size()) +
                           " <qemu:commandline> elements; libvirt allows one");
  }
  return found.empty() ? nullptr : found[0];
}

bool IsBlank(const xmlNode* node) {
  if (node->type != XML_TEXT_NODE || node->content == nullptr) return false;
  const std::string_view text(reinterpret_cast<const char*>(node->content));
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The whitespace before `node` when it is alone on its line ("\n  "), for indenting new children.
std::string IndentOf(const xmlNode* node) {
  const xmlNode* prev = node->prev;
  if (prev == nullptr || !IsBlank(prev)) return "\n";
  const std::string_view text(reinterpret_cast<const char*>(prev->content));
  const size_t newline = text.rfind('\n');
  return newline == std::string_view::npos ? "\n" : std::string(text.substr(newline));
}

// The qemu namespace on the root: the declared one, or a new declaration.
xmlNs* QemuNamespace(xmlNode* root) {
  const auto* href = reinterpret_cast<const xmlChar*>(kQemuNamespace);
  if (xmlNs* ns = xmlSearchNsByHref(root->doc, root, href)) return ns;
  for (const char* prefix : {"qemu", "mkdqemu"}) {
    if (xmlNs* ns = xmlNewNs(root, href, reinterpret_cast<const xmlChar*>(prefix))) return ns;
  }
  return nullptr;
}

}  // namespace

Result<std::vector<std::string>> ReadQemuArgs(const XmlDocument& doc) {
  MKD_ASSIGN_OR_RETURN(xmlNode * commandline, FindCommandline(doc));
  std::vector<std::string> args;
  if (commandline == nullptr) return args;
  for (const xmlNode* arg : ChildElements(commandline, "arg", kQemuNamespace)) {
    std::optional<std::string> value = Attribute(arg, "value");
    if (!value) return Status::Corrupt("a <qemu:arg> of the domain XML has no value");
    args.push_back(std::move(*value));
  }
  return args;
}

Status ReplaceQemuArgs(XmlDocument* doc, const std::vector<std::string>& args) {
  MKD_ASSIGN_OR_RETURN(xmlNode * commandline, FindCommandline(*doc));
  xmlNode* root = doc->root();
  if (commandline == nullptr) {
    xmlNs* ns = QemuNamespace(root);
    if (ns == nullptr) return Status::Corrupt("cannot declare the qemu namespace on <domain>");
    const std::string indent = root->last != nullptr && IsBlank(root->last) ? "  " : "\n  ";
    InsertText(root, nullptr, indent);
    commandline = AppendElement(root, ns, "commandline", "");
    InsertText(root, nullptr, "\n");
  }
  const std::string outer = IndentOf(commandline);
  const std::string inner = outer + "  ";
  // Drop the old args and the whitespace between children; the rest (<qemu:env>, comments)
  // is kept and indented again after the new args.
  std::vector<xmlNode*> kept;
  for (xmlNode* c = commandline->children; c != nullptr;) {
    xmlNode* next = c->next;
    xmlUnlinkNode(c);
    if (IsBlank(c) || IsElement(c, "arg", kQemuNamespace)) {
      xmlFreeNode(c);
    } else {
      kept.push_back(c);
    }
    c = next;
  }
  for (const std::string& arg : args) {
    InsertText(commandline, nullptr, inner);
    xmlNode* element = AppendElement(commandline, commandline->ns, "arg", "");
    SetAttribute(element, "value", arg);
  }
  for (xmlNode* c : kept) {
    InsertText(commandline, nullptr, inner);
    xmlAddChild(commandline, c);
  }
  if (commandline->children != nullptr) InsertText(commandline, nullptr, outer);
  return Status::Ok();
}

}  // namespace mkd::libvirt
