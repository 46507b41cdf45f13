// XmlDocument: parsing untrusted XML with libxml2 under our limits, and printing it. Touches
// memory only (libxml2 is told never to open a file or the network).
#include "libvirt/xml_document.h"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>

#include <mutex>
#include <utility>

namespace mkd::libvirt {
namespace {

// No XML_PARSE_NOENT (entities stay unsubstituted), no XML_PARSE_DTDLOAD/DTDATTR/DTDVALID, no
// XML_PARSE_XINCLUDE, no XML_PARSE_HUGE (libxml2's own depth and size limits stay on); errors
// are returned, not printed.
constexpr int kParseOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;

const xmlChar* X(const std::string& s) { return reinterpret_cast<const xmlChar*>(s.c_str()); }

std::string_view View(const xmlChar* s) {
  return s == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(s));
}

// libxml2's message for the last error of `ctxt`, on one line.
std::string LastError(xmlParserCtxt* ctxt) {
  const xmlError* err = xmlCtxtGetLastError(ctxt);
  if (err == nullptr || err->message == nullptr) return "not well-formed XML";
  std::string message(err->message);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (message.size() > 200) message.resize(200);
  return message + " (line " + std::to_string(err->line) + ")";
}

// SAX's internalSubset runs when `<!DOCTYPE name ...` has been read and before anything inside
// it (entity declarations): the parse stops there, and Parse refuses the document.
char doctype_seen;  // its address marks ctxt->_private
void StopAtDoctype(void* ctx, const xmlChar* /*name*/, const xmlChar* /*external_id*/,
                   const xmlChar* /*system_id*/) {
  auto* ctxt = static_cast<xmlParserCtxt*>(ctx);
  ctxt->_private = &doctype_seen;
  xmlStopParser(ctxt);
}

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

}  // namespace

Result<XmlDocument> XmlDocument::Parse(std::string_view text, std::string_view what) {
  const std::string name(what);
  if (text.size() > kMaxXmlSize) {
    return Status::Corrupt(name + " is larger than 1 MiB (" + std::to_string(text.size()) +
                           " bytes); a libvirt domain XML is a few KiB");
  }
  InitOnce();
  xmlParserCtxt* ctxt = xmlNewParserCtxt();
  if (ctxt == nullptr) return Status::Io("libxml2 could not allocate a parser");
  ctxt->sax->internalSubset = StopAtDoctype;  // ctxt->sax is this context's own copy
  const char* data = text.empty() ? "" : text.data();
  xmlDoc* doc =
      xmlCtxtReadMemory(ctxt, data, static_cast<int>(text.size()), nullptr, nullptr, kParseOptions);
  Status status;
  if (ctxt->_private == &doctype_seen) {
    status = Status::Corrupt(name + " has a DOCTYPE; a libvirt domain XML has none");
  } else if (doc == nullptr || ctxt->wellFormed == 0) {
    status = Status::Corrupt(name + " is not well-formed XML: " + LastError(ctxt));
  } else if (ctxt->nsWellFormed == 0) {
    status = Status::Corrupt(name + " uses an undeclared namespace prefix: " + LastError(ctxt));
  } else if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
    status = Status::Corrupt(name + " has a DOCTYPE; a libvirt domain XML has none");
  } else if (xmlDocGetRootElement(doc) == nullptr) {
    status = Status::Corrupt(name + " has no root element");
  }
  xmlFreeParserCtxt(ctxt);
  XmlDocument result(doc);
  if (!status.ok()) return status;
  return result;
}

XmlDocument XmlDocument::WithRoot(std::string_view root_name) {
  InitOnce();
  xmlDoc* doc = xmlNewDoc(X("1.0"));
  xmlNode* root = xmlNewDocNode(doc, nullptr, X(std::string(root_name)), nullptr);
  xmlDocSetRootElement(doc, root);
  return XmlDocument(doc);
}

XmlDocument::XmlDocument(XmlDocument&& other) noexcept : doc_(std::exchange(other.doc_, nullptr)) {}

XmlDocument& XmlDocument::operator=(XmlDocument&& other) noexcept {
  if (this != &other) {
    if (doc_ != nullptr) xmlFreeDoc(doc_);
    doc_ = std::exchange(other.doc_, nullptr);
  }
  return *this;
}

XmlDocument::~XmlDocument() {
  if (doc_ != nullptr) xmlFreeDoc(doc_);
}

xmlNode* XmlDocument::root() const { return xmlDocGetRootElement(doc_); }

std::string XmlDocument::ToString(bool indent) const {
  xmlChar* mem = nullptr;
  int size = 0;
  xmlDocDumpFormatMemoryEnc(doc_, &mem, &size, "UTF-8", indent ? 1 : 0);
  std::string out;
  if (mem != nullptr && size > 0) out.assign(reinterpret_cast<const char*>(mem), size);
  if (mem != nullptr) xmlFree(mem);
  return out;
}

std::string_view NodeName(const xmlNode* node) { return View(node->name); }

bool IsElement(const xmlNode* node, std::string_view name, const char* ns_href) {
  if (node->type != XML_ELEMENT_NODE || NodeName(node) != name) return false;
  if (ns_href == nullptr) return node->ns == nullptr;
  return node->ns != nullptr && View(node->ns->href) == ns_href;
}

std::vector<xmlNode*> ChildElements(const xmlNode* parent, std::string_view name,
                                    const char* ns_href) {
  std::vector<xmlNode*> out;
  for (xmlNode* c = parent->children; c != nullptr; c = c->next) {
    if (IsElement(c, name, ns_href)) out.push_back(c);
  }
  return out;
}

Result<std::string> ElementText(const xmlNode* element, std::string_view what) {
  std::string text;
  for (const xmlNode* c = element->children; c != nullptr; c = c->next) {
    switch (c->type) {
      case XML_TEXT_NODE:
      case XML_CDATA_SECTION_NODE:
        text += View(c->content);
        break;
      case XML_COMMENT_NODE:
      case XML_PI_NODE:
        break;
      default:
        return Status::Corrupt(std::string(what) + " must hold only text");
    }
  }
  return text;
}

std::optional<std::string> Attribute(const xmlNode* element, std::string_view name) {
  xmlChar* value = xmlGetNoNsProp(element, X(std::string(name)));
  if (value == nullptr) return std::nullopt;
  std::string out(View(value));
  xmlFree(value);
  return out;
}

xmlNode* AppendElement(xmlNode* parent, xmlNs* ns, std::string_view name, std::string_view text) {
  const std::string content(text);
  return xmlNewTextChild(parent, ns, X(std::string(name)), text.empty() ? nullptr : X(content));
}

void SetAttribute(xmlNode* element, std::string_view name, std::string_view value) {
  xmlSetProp(element, X(std::string(name)), X(std::string(value)));
}

void InsertText(xmlNode* parent, xmlNode* sibling, std::string_view text) {
  const std::string content(text);
  xmlNode* node = xmlNewDocTextLen(parent->doc, X(content), static_cast<int>(content.size()));
  if (sibling == nullptr) {
    xmlAddChild(parent, node);
  } else {
    xmlAddPrevSibling(sibling, node);
  }
}

}  // namespace mkd::libvirt
