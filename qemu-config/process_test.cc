// Tests for the process helpers: redirections survive exec, bounded waits, terminate-then-kill.
#include "qemu-config/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace mkd::qemuconfig {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ProcessTest, RedirectedOutputReachesTheFilesAndSurvivesExec) {
  const std::string out = testing::TempDir() + "/mkd-process-out";
  const std::string err = testing::TempDir() + "/mkd-process-err";
  // The child opens a file after exec: it must not get fd 1 or 2 (they stay the redirections).
  Result<pid_t> pid = Spawn({"sh", "-c", "exec 3>/dev/null; echo out; echo err >&2"}, {out, err});
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  Result<std::optional<int>> done = WaitFor(*pid, std::chrono::seconds(10));
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_TRUE(WIFEXITED(**done) && WEXITSTATUS(**done) == 0);
  EXPECT_EQ(Slurp(out), "out\n");
  EXPECT_EQ(Slurp(err), "err\n");
  std::filesystem::remove(out);
  std::filesystem::remove(err);
}

TEST(ProcessTest, OneFileForBothStreamsKeepsEverythingInOrder) {
  const std::string both = testing::TempDir() + "/mkd-process-both";
  Result<pid_t> pid =
      Spawn({"sh", "-c", "echo error: it failed >&2; echo out; echo more >&2"}, {both, both});
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  Result<std::optional<int>> done = WaitFor(*pid, std::chrono::seconds(10));
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_EQ(Slurp(both), "error: it failed\nout\nmore\n");  // two opens: "out\nr: it failed..."
  std::filesystem::remove(both);
}

TEST(ProcessTest, WaitForTimesOutAndTerminateStopsTheChild) {
  Result<pid_t> pid = Spawn({"sleep", "30"});
  ASSERT_TRUE(pid.ok());
  Result<std::optional<int>> done = WaitFor(*pid, std::chrono::milliseconds(100));
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(done->has_value());
  EXPECT_TRUE(ProcessExists(*pid));
  Terminate(*pid, std::chrono::seconds(2));
  EXPECT_FALSE(ProcessExists(*pid));
}

TEST(ProcessTest, AChildIgnoringSigtermIsKilled) {
  Result<pid_t> pid = Spawn({"sh", "-c", "trap '' TERM; sleep 30 & wait"});
  ASSERT_TRUE(pid.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = std::chrono::steady_clock::now();
  Terminate(*pid, std::chrono::milliseconds(300));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(ProcessExists(*pid));
}

TEST(ProcessTest, DescribesWaitStatuses) {
  EXPECT_EQ(DescribeWaitStatus(1 << 8), "exited with status 1");
  EXPECT_EQ(DescribeWaitStatus(9), "killed by signal 9");
}

TEST(ProcessTest, UnknownProgramFailsAtSpawnOrAtExec) {
  // glibc's posix_spawnp reports exec failures from the child; either way it is not a success.
  Result<pid_t> pid = Spawn({"/nonexistent/mkd-no-such-program"});
  if (pid.ok()) {
    Result<std::optional<int>> done = WaitFor(*pid, std::chrono::seconds(5));
    ASSERT_TRUE(done.ok() && done->has_value());
    EXPECT_NE(**done, 0);
  }
}

}  // namespace
}  // namespace mkd::qemuconfig
