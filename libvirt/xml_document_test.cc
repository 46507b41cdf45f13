// Tests of XmlDocument: what it parses, what it refuses (size, DOCTYPE and entities, broken XML,
// undeclared prefixes) and how it prints. Memory only.
#include "libvirt/xml_document.h"

#include <gtest/gtest.h>

#include <string>

namespace mkd::libvirt {
namespace {

TEST(XmlDocumentTest, ParsesAndPrintsTheSameElementsBack) {
  Result<XmlDocument> doc = XmlDocument::Parse(
      "<domain type='kvm'>\n  <name>web1</name>\n  <!-- a comment -->\n</domain>\n", "test");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(NodeName(doc->root()), "domain");
  EXPECT_EQ(Attribute(doc->root(), "type"), "kvm");
  EXPECT_EQ(Attribute(doc->root(), "missing"), std::nullopt);
  const std::string text = doc->ToString(/*indent=*/false);
  EXPECT_NE(text.find("<domain type=\"kvm\">\n  <name>web1</name>\n  <!-- a comment -->\n"),
            std::string::npos)
      << text;
}

TEST(XmlDocumentTest, RefusesMoreThanOneMebibyte) {
  std::string big = "<domain>" + std::string(kMaxXmlSize, ' ') + "</domain>";
  Result<XmlDocument> doc = XmlDocument::Parse(big, "the domain XML on stdin");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(doc.status().message().find("the domain XML on stdin is larger than 1 MiB"),
            std::string::npos);
}

TEST(XmlDocumentTest, RefusesADoctypeSoNoEntityIsEverDeclared) {
  // An external entity (a file of this host) and the billion laughs: both need a DOCTYPE.
  for (const char* xml : {
           "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><domain>&x;</domain>",
           "<!DOCTYPE d [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
           "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]><domain>&c;</domain>",
           "<!DOCTYPE domain SYSTEM \"http://example.com/domain.dtd\"><domain/>",
       }) {
    Result<XmlDocument> doc = XmlDocument::Parse(xml, "test");
    ASSERT_FALSE(doc.ok()) << xml;
    EXPECT_EQ(doc.status().code(), ErrorCode::kCorrupt);
    EXPECT_NE(doc.status().message().find("DOCTYPE"), std::string::npos) << doc.status().message();
  }
}

TEST(XmlDocumentTest, RefusesAnUndefinedEntity) {
  Result<XmlDocument> doc = XmlDocument::Parse("<domain>&x;</domain>", "test");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("not well-formed"), std::string::npos);
}

TEST(XmlDocumentTest, RefusesBrokenXmlNamingTheLine) {
  for (const char* xml :
       {"", "<domain>", "<domain>\n<name>a</nam></domain>", "text only", "<a/><b/>"}) {
    Result<XmlDocument> doc = XmlDocument::Parse(xml, "test");
    ASSERT_FALSE(doc.ok()) << xml;
    EXPECT_EQ(doc.status().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(doc.status().message().find("test is not well-formed XML: "), 0u)
        << doc.status().message();
    EXPECT_NE(doc.status().message().find("(line "), std::string::npos);
    EXPECT_EQ(doc.status().message().find('\n'), std::string::npos);
  }
}

TEST(XmlDocumentTest, RefusesAnUndeclaredNamespacePrefix) {
  Result<XmlDocument> doc =
      XmlDocument::Parse("<domain><qemu:commandline/></domain>", "the domain XML");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("undeclared namespace prefix"), std::string::npos)
      << doc.status().message();
}

TEST(XmlDocumentTest, PredefinedEntitiesAndCharacterReferencesAreText) {
  Result<XmlDocument> doc = XmlDocument::Parse(
      "<domain a='&lt;&#65;'><name>x &amp; y<![CDATA[<z>]]></name></domain>", "test");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(Attribute(doc->root(), "a"), "<A");
  std::vector<xmlNode*> names = ChildElements(doc->root(), "name", nullptr);
  ASSERT_EQ(names.size(), 1u);
  Result<std::string> text = ElementText(names[0], "<name>");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "x & y<z>");
}

TEST(XmlDocumentTest, ElementTextRefusesChildElements) {
  Result<XmlDocument> doc = XmlDocument::Parse("<domain><name>a<b/></name></domain>", "test");
  ASSERT_TRUE(doc.ok());
  Result<std::string> text = ElementText(ChildElements(doc->root(), "name", nullptr)[0], "<name>");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), "<name> must hold only text");
}

TEST(XmlDocumentTest, BuiltDocumentsEscapeWhatTheyHold) {
  XmlDocument doc = XmlDocument::WithRoot("domain");
  xmlNode* name = AppendElement(doc.root(), nullptr, "name", "a<b&c");
  SetAttribute(name, "q", "it's \"x\"");
  const std::string text = doc.ToString(/*indent=*/true);
  Result<XmlDocument> again = XmlDocument::Parse(text, "printed");
  ASSERT_TRUE(again.ok()) << text;
  xmlNode* parsed = ChildElements(again->root(), "name", nullptr)[0];
  EXPECT_EQ(*ElementText(parsed, "<name>"), "a<b&c");
  EXPECT_EQ(Attribute(parsed, "q"), "it's \"x\"");
}

TEST(XmlDocumentTest, MovesOwnership) {
  XmlDocument a = XmlDocument::WithRoot("one");
  XmlDocument b = std::move(a);
  EXPECT_EQ(NodeName(b.root()), "one");
  b = XmlDocument::WithRoot("two");
  EXPECT_EQ(NodeName(b.root()), "two");
}

}  // namespace
}  // namespace mkd::libvirt
