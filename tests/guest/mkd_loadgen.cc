// mkd-loadgen: the load generator of the web workload (paper section 5.3.3, where httperf ran in
// the migrating VM next to Apache; here it runs in the guest next to busybox httpd, see README.md).
//
// Load mode: opens connections at a fixed rate (--rate per second) to --host:--port, connection k
// fetching "/f<k mod files>" with HTTP/1.0 GET, and reads each response to the end. It stops
// opening after --connections connections or --seconds seconds (whichever is given; both: first
// reached), waits for the outstanding ones, and prints:
//   MKD loadgen start rate=R files=F connections=C seconds=T
//   MKD loadgen second=T ok=N bytes=B max_ms=M errors=E open=K   (each second, for the
//                                                                 connections that ended in it)
//   MKD loadgen done connections=C ok=N errors=E bytes=B seconds=S max_ms=M
// A connection is ok when it got "200" and a body of Content-Length bytes (and of --kb KiB when
// --kb is given). Timeouts (--timeout-ms), refused connections and short bodies are errors, as is a
// connection that could not be opened because --max-open were already in flight.
// Then idles forever (the VM stays migratable) unless --exit.
//
// Populate mode (--populate DIR --files F --kb S): writes F files "f00000".."f<F-1>" of S KiB of
// pseudo-random data into DIR and prints "MKD loadgen populated files=F kb=S seconds=X".
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "guest_util.h"

namespace {

std::string FileName(uint64_t index) {
  char name[32];
  snprintf(name, sizeof(name), "f%05llu", static_cast<unsigned long long>(index));
  return name;
}

int Populate(const std::string& dir, uint64_t files, uint64_t kb) {
  const double start = mkdguest::MonotonicSeconds();
  std::vector<uint64_t> buffer(kb * 1024 / sizeof(uint64_t));
  for (uint64_t i = 0; i < files; ++i) {
    mkdguest::Rng rng(i + 1);
    for (uint64_t& word : buffer) word = rng.Next();
    const std::string path = dir + "/" + FileName(i);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) mkdguest::Die("cannot create %s: %s", path.c_str(), strerror(errno));
    const size_t bytes = buffer.size() * sizeof(uint64_t);
    if (write(fd, buffer.data(), bytes) != static_cast<ssize_t>(bytes) || close(fd) != 0) {
      mkdguest::Die("cannot write %s: %s", path.c_str(), strerror(errno));
    }
  }
  mkdguest::Emit("loadgen populated files=%llu kb=%llu seconds=%.2f",
                 static_cast<unsigned long long>(files), static_cast<unsigned long long>(kb),
                 mkdguest::MonotonicSeconds() - start);
  return 0;
}

struct Options {
  sockaddr_in address{};
  uint64_t rate = 100;
  uint64_t files = 1024;
  uint64_t connections = 0;  // 0: limited by seconds only
  uint64_t seconds = 0;      // 0: limited by connections only
  uint64_t kb = 0;           // 0: do not check the body size
  uint64_t timeout_ms = 10'000;
  uint64_t max_open = 500;
};

// One HTTP/1.0 exchange on a non-blocking socket.
struct Connection {
  int fd = -1;
  double started = 0;
  std::string request;
  size_t sent = 0;
  bool connected = false;
  std::string head;  // response bytes up to the end of the header
  bool head_done = false;
  bool status_ok = false;
  long long content_length = -1;
  uint64_t body = 0;
};

// Counters of the connections that ended within one reporting second (or the whole run).
struct Tally {
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t bytes = 0;
  double max_ms = 0;
  void Add(bool success, uint64_t body, double ms) {
    if (success) {
      ++ok;
      bytes += body;
    } else {
      ++errors;
    }
    max_ms = std::max(max_ms, ms);
  }
};

class LoadGenerator {
 public:
  explicit LoadGenerator(const Options& options) : options_(options) {}
  int Run();

 private:
  void Open(uint64_t index, double now);
  // Advances the connection after poll reported `revents`; returns true when it ended.
  bool Step(Connection& c, short revents);
  bool Succeeded(const Connection& c) const;
  void End(Connection& c, bool success, double now);
  void ReportSecondsUpTo(double now);

  Options options_;
  std::vector<Connection> open_;
  double start_ = 0;
  uint64_t reported_seconds_ = 0;
  Tally second_;
  Tally total_;
  uint64_t opened_ = 0;
};

void LoadGenerator::Open(uint64_t index, double now) {
  if (open_.size() >= options_.max_open) {
    second_.Add(false, 0, 0);
    total_.Add(false, 0, 0);
    return;
  }
  Connection c;
  c.started = now;
  c.request = "GET /" + FileName(index % options_.files) + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    End(c, false, now);
    return;
  }
  int rc =
      connect(c.fd, reinterpret_cast<const sockaddr*>(&options_.address), sizeof(options_.address));
  if (rc == 0) {
    c.connected = true;
  } else if (errno != EINPROGRESS) {
    End(c, false, now);
    return;
  }
  open_.push_back(std::move(c));
}

bool LoadGenerator::Step(Connection& c, short revents) {
  if (!c.connected) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return false;
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) return true;
    c.connected = true;
  }
  while (c.sent < c.request.size()) {
    ssize_t n = send(c.fd, c.request.data() + c.sent, c.request.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) return !(errno == EAGAIN || errno == EINTR);
    c.sent += static_cast<size_t>(n);
  }
  char buffer[65536];
  for (;;) {
    ssize_t n = recv(c.fd, buffer, sizeof(buffer), 0);
    if (n < 0) return !(errno == EAGAIN || errno == EINTR);
    if (n == 0) return true;  // end of the response (HTTP/1.0: the server closes)
    size_t got = static_cast<size_t>(n);
    if (c.head_done) {
      c.body += got;
      continue;
    }
    c.head.append(buffer, got);
    size_t end = c.head.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.head.size() > 16384) return true;  // not HTTP
      continue;
    }
    c.head_done = true;
    c.body = c.head.size() - (end + 4);
    c.head.resize(end);
    c.status_ok = c.head.rfind("HTTP/1.0 200", 0) == 0 || c.head.rfind("HTTP/1.1 200", 0) == 0;
    for (const char* key : {"\r\nContent-Length:", "\r\nContent-length:", "\r\ncontent-length:"}) {
      size_t at = c.head.find(key);
      if (at != std::string::npos) c.content_length = atoll(c.head.c_str() + at + strlen(key));
    }
  }
}

bool LoadGenerator::Succeeded(const Connection& c) const {
  if (!c.head_done || !c.status_ok) return false;
  if (c.content_length >= 0 && c.body != static_cast<uint64_t>(c.content_length)) return false;
  if (options_.kb != 0 && c.body != options_.kb * 1024) return false;
  return true;
}

void LoadGenerator::End(Connection& c, bool success, double now) {
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  const double ms = (now - c.started) * 1000.0;
  second_.Add(success, c.body, ms);
  total_.Add(success, c.body, ms);
}

void LoadGenerator::ReportSecondsUpTo(double now) {
  while (start_ + static_cast<double>(reported_seconds_ + 1) <= now) {
    ++reported_seconds_;
    mkdguest::Emit("loadgen second=%llu ok=%llu bytes=%llu max_ms=%.0f errors=%llu open=%zu",
                   static_cast<unsigned long long>(reported_seconds_),
                   static_cast<unsigned long long>(second_.ok),
                   static_cast<unsigned long long>(second_.bytes), second_.max_ms,
                   static_cast<unsigned long long>(second_.errors), open_.size());
    second_ = Tally();
  }
}

int LoadGenerator::Run() {
  uint64_t limit = options_.connections;
  if (options_.seconds != 0) {
    const uint64_t by_time = options_.seconds * options_.rate;
    limit = limit == 0 ? by_time : std::min(limit, by_time);
  }
  mkdguest::Emit("loadgen start rate=%llu files=%llu connections=%llu seconds=%llu",
                 static_cast<unsigned long long>(options_.rate),
                 static_cast<unsigned long long>(options_.files),
                 static_cast<unsigned long long>(limit),
                 static_cast<unsigned long long>(options_.seconds));
  start_ = mkdguest::MonotonicSeconds();
  const double timeout = static_cast<double>(options_.timeout_ms) / 1000.0;
  std::vector<pollfd> fds;
  for (;;) {
    double now = mkdguest::MonotonicSeconds();
    // Open the connections due on the schedule start + k/rate.
    while (opened_ < limit &&
           start_ + static_cast<double>(opened_) / static_cast<double>(options_.rate) <= now) {
      Open(opened_++, now);
    }
    if (opened_ >= limit && open_.empty()) break;
    // Time out connections that took too long.
    for (Connection& c : open_) {
      if (now - c.started > timeout) End(c, false, now);
    }
    std::erase_if(open_, [](const Connection& c) { return c.fd < 0; });
    ReportSecondsUpTo(now);

    double wake = start_ + static_cast<double>(reported_seconds_ + 1);
    if (opened_ < limit) {
      wake = std::min(wake,
                      start_ + static_cast<double>(opened_) / static_cast<double>(options_.rate));
    }
    fds.clear();
    for (const Connection& c : open_) {
      const short events = !c.connected || c.sent < c.request.size() ? POLLOUT : POLLIN;
      fds.push_back(pollfd{c.fd, events, 0});
    }
    const double wait_ms = std::max(0.0, (wake - now) * 1000.0);
    int ready = poll(fds.data(), fds.size(), static_cast<int>(std::min(wait_ms + 1.0, 1000.0)));
    if (ready < 0 && errno != EINTR) mkdguest::Die("poll: %s", strerror(errno));
    now = mkdguest::MonotonicSeconds();
    for (size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (Step(open_[i], fds[i].revents)) End(open_[i], Succeeded(open_[i]), now);
    }
    std::erase_if(open_, [](const Connection& c) { return c.fd < 0; });
  }
  const double end = mkdguest::MonotonicSeconds();
  ReportSecondsUpTo(end);
  if (second_.ok + second_.errors > 0)
    ReportSecondsUpTo(start_ + static_cast<double>(reported_seconds_ + 1));
  mkdguest::Emit(
      "loadgen done connections=%llu ok=%llu errors=%llu bytes=%llu seconds=%.1f "
      "max_ms=%.0f",
      static_cast<unsigned long long>(opened_), static_cast<unsigned long long>(total_.ok),
      static_cast<unsigned long long>(total_.errors), static_cast<unsigned long long>(total_.bytes),
      end - start_, total_.max_ms);
  return total_.errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  mkdguest::ArgParser args("mkd-loadgen", argc, argv);
  const std::string populate = args.String("--populate", "");
  Options options;
  options.files = args.Uint("--files", 1024, 1'000'000);
  options.kb = args.Uint("--kb", 0, 1 << 20);
  if (!populate.empty()) {
    args.Finish();
    if (options.files == 0 || options.kb == 0) mkdguest::Die("--populate needs --files and --kb");
    return Populate(populate, options.files, options.kb);
  }
  const std::string host = args.String("--host", "127.0.0.1");
  const uint64_t port = args.Uint("--port", 80, 65535);
  options.rate = args.Uint("--rate", 100, 100'000);
  options.connections = args.Uint("--connections", 0, UINT64_MAX / 2);
  options.seconds = args.Uint("--seconds", 0, 1'000'000);
  options.timeout_ms = args.Uint("--timeout-ms", 10'000, 3'600'000);
  options.max_open = args.Uint("--max-open", 500, 900);
  const bool exit_when_done = args.Flag("--exit");
  args.Finish();
  if (options.rate == 0 || options.files == 0) mkdguest::Die("--rate and --files must be > 0");
  if (options.connections == 0 && options.seconds == 0)
    options.connections = 10'240;  // the paper's
  options.address.sin_family = AF_INET;
  options.address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &options.address.sin_addr) != 1) {
    mkdguest::Die("--host wants an IPv4 address, got '%s'", host.c_str());
  }
  const int status = LoadGenerator(options).Run();
  if (exit_when_done) return status;
  mkdguest::IdleForever();
}
