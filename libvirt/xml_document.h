// XmlDocument: one parsed XML document (libxml2), owned, and the only place mkd-libvirt parses
// or prints XML. What it parses is untrusted (a domain XML on a libvirt hook's stdin comes from
// the migration's source host): at most kMaxXmlSize bytes, no network access (XML_PARSE_NONET),
// no entity substitution (XML_PARSE_NOENT off), no DTD loading, and a document with a DOCTYPE is
// refused (a libvirt domain never has one; it is where entity tricks live). It touches nothing
// but memory.
//
// Move-only: owns its xmlDoc. Thread-compatible: one document is used by one thread at a time;
// parsing from several threads is safe (libxml2 is initialised once).
#ifndef MKD_LIBVIRT_XML_DOCUMENT_H_
#define MKD_LIBVIRT_XML_DOCUMENT_H_

#include <libxml/tree.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mkd::libvirt {

// The largest XML read: a libvirt domain is a few KiB; 1 MiB leaves room and bounds the work.
inline constexpr size_t kMaxXmlSize = 1024 * 1024;

class XmlDocument {
 public:
  // Parses `text`; `what` names it in errors ("the domain XML on stdin"). Corrupt when it is
  // larger than kMaxXmlSize, not well-formed (the message has libxml2's reason and line), has a
  // DOCTYPE, or has no root element.
  static Result<XmlDocument> Parse(std::string_view text, std::string_view what);
  // An empty document with a root element `root_name` (for building XML).
  static XmlDocument WithRoot(std::string_view root_name);

  XmlDocument(XmlDocument&& other) noexcept;
  XmlDocument& operator=(XmlDocument&& other) noexcept;
  XmlDocument(const XmlDocument&) = delete;
  XmlDocument& operator=(const XmlDocument&) = delete;
  ~XmlDocument();

  xmlNode* root() const;  // never null; owned by the document
  // The document as UTF-8 text with an XML declaration. `indent`: indent elements that hold no
  // text (for documents built here); without it the text nodes say where lines break.
  std::string ToString(bool indent) const;

 private:
  explicit XmlDocument(xmlDoc* doc) : doc_(doc) {}
  xmlDoc* doc_ = nullptr;
};

// Helpers over libxml2's nodes, so that callers never cast between char and xmlChar.
// The element's local name (without a prefix).
std::string_view NodeName(const xmlNode* node);
// True when `node` is an element named `name` in namespace `ns_href` (nullptr: no namespace).
bool IsElement(const xmlNode* node, std::string_view name, const char* ns_href);
// The child elements of `parent` named `name` in namespace `ns_href` (nullptr: no namespace).
std::vector<xmlNode*> ChildElements(const xmlNode* parent, std::string_view name,
                                    const char* ns_href);
// The text of an element that holds only text (and comments); Corrupt naming `what` when it holds
// elements or anything else.
Result<std::string> ElementText(const xmlNode* element, std::string_view what);
// The value of attribute `name` (no namespace); nullopt when absent.
std::optional<std::string> Attribute(const xmlNode* element, std::string_view name);
// Appends a child element `name` in namespace `ns` (may be null) with `text` (escaped when
// printed; empty: no text). Returns it (owned by the document).
xmlNode* AppendElement(xmlNode* parent, xmlNs* ns, std::string_view name, std::string_view text);
// Sets attribute `name` of `element` (escaped when printed).
void SetAttribute(xmlNode* element, std::string_view name, std::string_view value);
// Inserts a text node `text` before `sibling` (nullptr: at the end of `parent`).
void InsertText(xmlNode* parent, xmlNode* sibling, std::string_view text);

}  // namespace mkd::libvirt

#endif  // MKD_LIBVIRT_XML_DOCUMENT_H_
