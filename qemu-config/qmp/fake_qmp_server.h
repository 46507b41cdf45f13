// FakeQmpServer (tests only): a QMP "server" on a real unix socket, run by a script on its own
// thread, so client tests can play both a well-behaved QEMU and a hostile one.
//
// The server listens on <fresh temp dir>/qmp.sock, accepts one connection and runs the script
// with it; the connection closes when the script returns. Every wait is bounded (default 5 s),
// so a test whose client misbehaves fails instead of hanging. The destructor joins the thread
// and removes the directory. Script and test thread share nothing else; the script may use
// EXPECT_* (GoogleTest is thread-safe here).
#ifndef MKD_QEMU_CONFIG_QMP_FAKE_QMP_SERVER_H_
#define MKD_QEMU_CONFIG_QMP_FAKE_QMP_SERVER_H_

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace mkd::qmp {

// QEMU 7.2.22's greeting on this machine, byte for byte.
inline constexpr std::string_view kQemu72Greeting =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n";

class FakeQmpConnection {
 public:
  explicit FakeQmpConnection(int fd) : fd_(fd) {}
  ~FakeQmpConnection();
  FakeQmpConnection(const FakeQmpConnection&) = delete;
  FakeQmpConnection& operator=(const FakeQmpConnection&) = delete;

  // Writes all of `bytes`; false when the client is gone.
  bool Send(std::string_view bytes);
  // The next request line, parsed; nullopt at end of stream, on timeout or on bad JSON.
  std::optional<nlohmann::json> ReadRequest(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Sends the greeting, reads qmp_capabilities and answers it; false when that went wrong.
  bool Handshake();
  // {"return": value, "id": request's id}
  bool Reply(const nlohmann::json& request, const nlohmann::json& value);
  // Waits until the client closes (or `timeout`); true when it did.
  bool WaitForClientClose(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void Close();

 private:
  int fd_;
  std::string pending_;  // bytes read past the last request line
};

class FakeQmpServer {
 public:
  using Script = std::function<void(FakeQmpConnection&)>;

  // Starts listening (after `listen_delay`, to test clients that start before QEMU does).
  explicit FakeQmpServer(Script script,
                         std::chrono::milliseconds listen_delay = std::chrono::milliseconds(0));
  ~FakeQmpServer();
  FakeQmpServer(const FakeQmpServer&) = delete;
  FakeQmpServer& operator=(const FakeQmpServer&) = delete;

  const std::string& path() const { return path_; }

 private:
  void Run(Script script, std::chrono::milliseconds listen_delay);

  std::string dir_;
  std::string path_;
  std::thread thread_;
};

}  // namespace mkd::qmp

#endif  // MKD_QEMU_CONFIG_QMP_FAKE_QMP_SERVER_H_
