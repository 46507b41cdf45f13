// QmpClient against a real qemu-system-x86_64 (suite 'system'). `-machine none` has no guest
// and needs neither KVM nor firmware, yet its run state still goes through stop/cont with
// STOP/RESUME events. Skipped when qemu-system-x86_64 is not on PATH.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "qemu-config/qmp/client.h"

extern char** environ;

namespace mkd::qmp {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr const char* kQemu = "qemu-system-x86_64";
constexpr milliseconds kStep{10'000};  // TCG on a loaded 2-core box can be slow to start

bool OnPath(const char* program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string_view rest(path);
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
  }
  return false;
}

class QmpAgainstQemu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!OnPath(kQemu)) GTEST_SKIP() << kQemu << " is not on PATH";
    char tmpl[] = "/tmp/mkd-qmp-qemu.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    socket_ = dir_ + "/qmp.sock";
    std::vector<std::string> args = {
        kQemu,  "-machine", "none", "-nodefaults", "-display",
        "none", "-accel",   "tcg",  "-qmp",        "unix:" + socket_ + ",server=on,wait=off"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, kQemu, nullptr, nullptr, argv.data(), environ);
    ASSERT_EQ(rc, 0) << "posix_spawnp " << kQemu << ": " << std::strerror(rc);
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);  // by pid, always; harmless if it already exited
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // Whether QEMU exited (and was reaped) within `timeout`.
  bool ExitsWithin(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  std::string dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

TEST_F(QmpAgainstQemu, QueriesStopsResumesAndQuits) {
  Result<QmpClient> c = QmpClient::Connect(socket_, kStep);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_GE(c->greeting().major, 7);
  std::printf("QEMU %lld.%lld.%lld (%s)\n", static_cast<long long>(c->greeting().major),
              static_cast<long long>(c->greeting().minor),
              static_cast<long long>(c->greeting().micro), c->greeting().package.c_str());

  Result<VmStatus> status = c->QueryStatus(kStep);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->status, "running");
  EXPECT_TRUE(status->running);

  Result<MigrationInfo> migration = c->QueryMigrate(kStep);
  ASSERT_TRUE(migration.ok()) << migration.status().ToString();
  EXPECT_EQ(migration->status, "");  // no migration yet: QEMU 7.2 returns {}
  EXPECT_EQ(migration->raw, json::object());

  ASSERT_TRUE(c->Execute("stop", nullptr, kStep).ok());
  Result<Event> stop = c->WaitForEvent("STOP", kStep);
  ASSERT_TRUE(stop.ok()) << stop.status().ToString();
  EXPECT_EQ(stop->data, json::object());
  EXPECT_GT(stop->seconds, 0);
  status = c->QueryStatus(kStep);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->status, "paused");
  EXPECT_FALSE(status->running);

  ASSERT_TRUE(c->Execute("cont", nullptr, kStep).ok());
  ASSERT_TRUE(c->WaitForEvent("RESUME", kStep).ok());
  status = c->QueryStatus(kStep);
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->status, "running");

  Result<Reply> bad = c->Call("migrate", {{"uri", "bad:x"}}, kStep);
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  ASSERT_FALSE(bad->ok());
  EXPECT_EQ(bad->error->error_class, "GenericError");
  EXPECT_EQ(bad->error->ToStatus().message(),
            "QMP command 'migrate' failed: GenericError: Parameter 'uri' expects a valid "
            "migration protocol");

  Result<json> missing = c->Execute("no-such-command", nullptr, kStep);
  EXPECT_EQ(missing.status().code(), ErrorCode::kUnsupported);
  EXPECT_THAT(missing.status().message(), HasSubstr("CommandNotFound"));
  EXPECT_TRUE(c->connected());

  // quit: QEMU sends SHUTDOWN, then (usually) the reply, then closes.
  Result<json> quit = c->Execute("quit", nullptr, kStep);
  if (!quit.ok()) {
    EXPECT_THAT(quit.status().message(), HasSubstr("closed the connection"));
  }
  Result<Event> shutdown = c->WaitForEvent("SHUTDOWN", kStep);
  ASSERT_TRUE(shutdown.ok()) << shutdown.status().ToString();
  EXPECT_EQ(shutdown->data.value("reason", ""), "host-qmp-quit");
  Result<json> after = c->Execute("query-status", nullptr, kStep);
  ASSERT_FALSE(after.ok());
  EXPECT_TRUE(ExitsWithin(kStep));
}

TEST_F(QmpAgainstQemu, SecondClientGetsNoGreetingWhileTheFirstIsConnected) {
  Result<QmpClient> first = QmpClient::Connect(socket_, kStep);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<QmpClient> second = QmpClient::Connect(socket_, milliseconds(500));
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("no QMP greeting within"));
  first->Close();
  Result<QmpClient> third = QmpClient::Connect(socket_, kStep);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
}

}  // namespace
}  // namespace mkd::qmp
