// Tests for VirshMigration against a stand-in virsh (a shell script): the argv it runs, and the
// error it makes of a failed virsh, with what virsh printed.
#include "migrate-tool/libvirt_migration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "base/temp_dir_for_test.h"

namespace mkd::migrate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class LibvirtMigrationTest : public ::testing::Test {
 protected:
  // A virsh that runs `body` (sh) and whose output goes to the log.
  VirshOptions Options(const std::string& body) {
    const std::string script = tmp_.path() + "/virsh";
    {
      std::ofstream f(script);
      f << "#!/bin/sh\n" << body << "\n";
    }
    ::chmod(script.c_str(), 0755);
    VirshOptions o;
    o.virsh = script;
    o.destination = "qemu+unix:///system?socket=/x";
    o.domain = "web1";
    o.log_path = tmp_.path() + "/virsh.log";
    return o;
  }

  void Write(const std::string& text) {
    std::ofstream(tmp_.path() + "/out", std::ios::binary) << text;
  }
  std::string Out() const { return tmp_.path() + "/out"; }

  mkd::testing::TempDirForTest tmp_;
};

TEST_F(LibvirtMigrationTest, TheArgvIsALiveMigrationIntoOurStream) {
  VirshOptions o;
  o.destination = "qemu+unix:///system?socket=/x";
  o.domain = "web1";
  EXPECT_THAT(VirshMigrateArgv(o, "unix:///run/t.sock"),
              ElementsAre("virsh", "-c", "qemu:///system", "migrate", "--live", "web1",
                          "qemu+unix:///system?socket=/x", "--migrateuri", "unix:///run/t.sock"));
}

TEST_F(LibvirtMigrationTest, OutputTailKeepsShortOutputAndJoinsItsLines) {
  Write("error: one\nerror: two\n\n");
  EXPECT_EQ(OutputTail(Out()), "error: one error: two");
  Write("");
  EXPECT_EQ(OutputTail(Out()), "");
  EXPECT_EQ(OutputTail(tmp_.path() + "/missing"), "");
}

TEST_F(LibvirtMigrationTest, OutputTailStartsAtAWholeLine) {
  Write("first line that is cut\nsecond\nthird\n");
  EXPECT_EQ(OutputTail(Out(), 15), "second third");  // "cut\nsecond\nthird"
  EXPECT_EQ(OutputTail(Out(), 10), "third");         // "ond\nthird"
}

TEST_F(LibvirtMigrationTest, OutputTailOfOneLongLineIsItsEnd) {
  // libvirt's hook errors are one line of 700 characters and more (the hook's whole PATH): the
  // end says why. (Cut to whole lines, it once came out empty.)
  Write("error: Hook script execution failed: PATH=" + std::string(900, 'p') +
        " refusing to start domain web1\n");
  const std::string tail = OutputTail(Out(), 100);
  EXPECT_THAT(tail, StartsWith("..."));
  EXPECT_EQ(tail.size(), 103u);
  EXPECT_THAT(tail, HasSubstr("refusing to start domain web1"));
}

TEST_F(LibvirtMigrationTest, AFailedVirshIsAnErrorWithTheEndOfWhatItPrinted) {
  VirshMigration m(
      Options("echo 'Migration: [ 10 %]'; echo \"error: Hook script execution "
              "failed: $(printf '%0900d' 0) refusing to start domain $5\" >&2; "
              "exit 1"));
  ASSERT_TRUE(m.Start("unix:///run/t.sock").ok());
  const Status s = m.Wait(std::chrono::seconds(10));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("libvirt's migration of domain web1"));
  EXPECT_THAT(s.message(), HasSubstr("exited with status 1"));
  EXPECT_THAT(s.message(), HasSubstr("refusing to start domain web1"));
}

TEST_F(LibvirtMigrationTest, ASuccessfulVirshIsOk) {
  VirshMigration m(Options("echo 'Migration: [100 %]'; exit 0"));
  ASSERT_TRUE(m.Start("unix:///run/t.sock").ok());
  EXPECT_TRUE(m.Wait(std::chrono::seconds(10)).ok());
  const std::optional<Status> polled = m.Poll();
  ASSERT_TRUE(polled.has_value());
  EXPECT_TRUE(polled->ok());
  EXPECT_THAT(OutputTail(tmp_.path() + "/virsh.log"), Not(HasSubstr("error")));
}

}  // namespace
}  // namespace mkd::migrate
