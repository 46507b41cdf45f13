#include "qemu-config/qmp/fake_qmp_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

namespace mkd::qmp {
namespace {

// Waits for `events` on `fd` for at most `timeout`; true when ready (or hung up).
bool WaitReady(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = poll(&p, 1, static_cast<int>(timeout.count()));
    if (n >= 0) return n > 0;
    if (errno != EINTR) return false;
  }
}

}  // namespace

FakeQmpConnection::~FakeQmpConnection() { Close(); }

void FakeQmpConnection::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool FakeQmpConnection::Send(std::string_view bytes) {
  while (!bytes.empty() && fd_ >= 0) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return bytes.empty();
}

std::optional<nlohmann::json> FakeQmpConnection::ReadRequest(std::chrono::milliseconds timeout) {
  for (;;) {
    if (const size_t nl = pending_.find('\n'); nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) return std::nullopt;
      return j;
    }
    if (fd_ < 0 || !WaitReady(fd_, POLLIN, timeout)) return std::nullopt;
    char buf[65536];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending_.append(buf, static_cast<size_t>(n));
  }
}

bool FakeQmpConnection::Reply(const nlohmann::json& request, const nlohmann::json& value) {
  nlohmann::json reply = {{"return", value}};
  if (request.contains("id")) reply["id"] = request["id"];
  return Send(reply.dump() + "\r\n");
}

bool FakeQmpConnection::Handshake() {
  if (!Send(kQemu72Greeting)) return false;
  std::optional<nlohmann::json> request = ReadRequest();
  if (!request || request->value("execute", "") != "qmp_capabilities") return false;
  return Reply(*request, nlohmann::json::object());
}

bool FakeQmpConnection::WaitForClientClose(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fd_ >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !WaitReady(fd_, POLLIN, left)) return false;
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR) return true;  // reset counts as closed
  }
  return true;
}

FakeQmpServer::FakeQmpServer(Script script, std::chrono::milliseconds listen_delay) {
  char tmpl[] = "/tmp/mkd-qmp-test.XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  dir_ = dir;
  path_ = dir_ + "/qmp.sock";
  thread_ = std::thread(&FakeQmpServer::Run, this, std::move(script), listen_delay);
}

FakeQmpServer::~FakeQmpServer() {
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void FakeQmpServer::Run(Script script, std::chrono::milliseconds listen_delay) {
  std::this_thread::sleep_for(listen_delay);
  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0) << std::strerror(errno);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path_.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  if (bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 1) != 0) {
    ADD_FAILURE() << "bind/listen " << path_ << ": " << std::strerror(errno);
    close(listener);
    return;
  }
  // A test whose client never connects ends here after 5 s, without running the script.
  int fd = -1;
  if (WaitReady(listener, POLLIN, std::chrono::seconds(5))) {
    fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  }
  close(listener);
  if (fd < 0) return;
  FakeQmpConnection connection(fd);
  script(connection);
}

}  // namespace mkd::qmp
