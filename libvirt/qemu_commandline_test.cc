// Tests of <qemu:commandline>: reading the args, replacing them while the rest of the document
// stays, creating the element where a domain has none, and the refusals. Memory only.
#include "libvirt/qemu_commandline.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mkd::libvirt {
namespace {

const char kDomain[] =
    "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
    "  <name>web1</name>\n"
    "  <on_crash>destroy</on_crash>\n"
    "  <qemu:commandline>\n"
    "    <qemu:arg value='-object'/>\n"
    "    <qemu:arg value='memory-backend-file,mem-path=/old/ram'/>\n"
    "    <qemu:env name='A' value='b'/>\n"
    "  </qemu:commandline>\n"
    "</domain>\n";

XmlDocument Parse(const std::string& xml) {
  Result<XmlDocument> doc = XmlDocument::Parse(xml, "test");
  EXPECT_TRUE(doc.ok()) << doc.status().ToString();
  return std::move(doc).value();
}

TEST(QemuCommandlineTest, ReadsTheArgsInOrder) {
  Result<std::vector<std::string>> args = ReadQemuArgs(Parse(kDomain));
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(*args, (std::vector<std::string>{"-object", "memory-backend-file,mem-path=/old/ram"}));
}

TEST(QemuCommandlineTest, ReplacesTheArgsAndKeepsEverythingElse) {
  XmlDocument doc = Parse(kDomain);
  const std::vector<std::string> args = {"-qmp", "unix:/new/qmp.sock,server=on,wait=off",
                                         "it's <&>"};
  ASSERT_TRUE(ReplaceQemuArgs(&doc, args).ok());
  const std::string text = doc.ToString(/*indent=*/false);
  EXPECT_EQ(text.find("/old/ram"), std::string::npos) << text;
  EXPECT_NE(text.find("  <on_crash>destroy</on_crash>\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  <qemu:commandline>\n"
                      "    <qemu:arg value=\"-qmp\"/>\n"
                      "    <qemu:arg value=\"unix:/new/qmp.sock,server=on,wait=off\"/>\n"
                      "    <qemu:arg value=\"it's &lt;&amp;&gt;\"/>\n"
                      "    <qemu:env name=\"A\" value=\"b\"/>\n"
                      "  </qemu:commandline>\n</domain>"),
            std::string::npos)
      << text;
  EXPECT_EQ(*ReadQemuArgs(Parse(text)), args);
}

TEST(QemuCommandlineTest, CreatesTheElementAndTheNamespaceWhenMissing) {
  XmlDocument doc = Parse("<domain type='qemu'>\n  <name>web1</name>\n</domain>");
  ASSERT_TRUE(ReplaceQemuArgs(&doc, {"-S"}).ok());
  const std::string text = doc.ToString(/*indent=*/false);
  EXPECT_NE(text.find("xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  <name>web1</name>\n  <qemu:commandline>\n    <qemu:arg value=\"-S\"/>\n"
                      "  </qemu:commandline>\n</domain>"),
            std::string::npos)
      << text;
  EXPECT_EQ(*ReadQemuArgs(Parse(text)), std::vector<std::string>{"-S"});
}

TEST(QemuCommandlineTest, FindsTheNamespaceUnderAnyPrefix) {
  XmlDocument doc = Parse(
      "<domain xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'><q:commandline>"
      "<q:arg value='-a'/></q:commandline><qemu:commandline xmlns:qemu='urn:other'>"
      "<qemu:arg value='-not-libvirts'/></qemu:commandline></domain>");
  EXPECT_EQ(*ReadQemuArgs(doc), std::vector<std::string>{"-a"});
  ASSERT_TRUE(ReplaceQemuArgs(&doc, {"-b"}).ok());
  const std::string text = doc.ToString(false);
  EXPECT_NE(text.find("<q:arg value=\"-b\"/>"), std::string::npos) << text;
  EXPECT_NE(text.find("-not-libvirts"), std::string::npos) << text;
}

TEST(QemuCommandlineTest, ADomainWithoutArgsHasNone) {
  EXPECT_TRUE(ReadQemuArgs(Parse("<domain/>"))->empty());
}

TEST(QemuCommandlineTest, RefusesTwoCommandlinesAndArgsWithoutValue) {
  const std::string ns = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'";
  XmlDocument two = Parse("<domain" + ns + "><qemu:commandline/><qemu:commandline/></domain>");
  EXPECT_EQ(ReadQemuArgs(two).status().code(), ErrorCode::kCorrupt);
  Status replace = ReplaceQemuArgs(&two, {"-S"});
  EXPECT_EQ(replace.code(), ErrorCode::kCorrupt);
  EXPECT_NE(replace.message().find("2 <qemu:commandline> elements"), std::string::npos);
  Result<std::vector<std::string>> args =
      ReadQemuArgs(Parse("<domain" + ns +
                         "><qemu:commandline><qemu:arg/></qemu:commandline>"
                         "</domain>"));
  ASSERT_FALSE(args.ok());
  EXPECT_NE(args.status().message().find("has no value"), std::string::npos);
}

}  // namespace
}  // namespace mkd::libvirt
