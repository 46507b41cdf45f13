// FakeQemu: the destination QEMU's process and monitor (incoming_ports.h's IncomingQemu and
// IncomingMonitor), and FakeStreams, its incoming migration socket, for the destination's unit
// tests.
// Test-only: compiled into the unit tests, never into the migrate library. FakeQemu is
// thread-safe (one mutex): the post-copy's watcher thread asks it beside the loop's thread;
// FakeStreams is used by one thread. A test reads them after the code under test ended.
#ifndef MKD_MIGRATE_TOOL_INCOMING_FAKE_QEMU_H_
#define MKD_MIGRATE_TOOL_INCOMING_FAKE_QEMU_H_

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "migrate-tool/incoming_ports.h"

namespace mkd::migrate::testing {

// The destination QEMU: its process and monitor. query-status answers come from `statuses` in
// turn (the last one repeats); "gone" answers as QMP does once QEMU died. Kill() makes it die.
struct FakeQemu {
  mutable std::mutex mu;        // guards everything below
  bool running_before = false;  // a QEMU of this VM runs here already
  bool alive = false;
  bool libvirt = false;  // libvirt starts it (a test sets `alive` when libvirt did)
  int starts = 0, stops = 0, queries = 0, ignore_shared = 0;
  Status start_error, connect_error, caps_error, listen_error;
  // Called by StartIncoming before it takes the lock (on the thread that starts QEMU): a test
  // holds the start here to see what the session does meanwhile.
  std::function<void()> on_start;
  std::string listen_socket;
  std::deque<std::string> statuses = {"inmigrate"};

  void Kill() {
    std::lock_guard lock(mu);
    alive = false;
  }
  void SetStatuses(std::deque<std::string> s) {
    std::lock_guard lock(mu);
    statuses = std::move(s);
  }
  Result<qmp::VmStatus> Query() {
    std::lock_guard lock(mu);
    ++queries;
    if (!alive || statuses.front() == "gone") {
      alive = false;
      return Status::Io("QEMU closed the QMP connection");
    }
    const std::string s = statuses.front();
    if (statuses.size() > 1) statuses.pop_front();
    return qmp::VmStatus{s, s == "running"};
  }
};

class FakeMonitor final : public IncomingMonitor {
 public:
  explicit FakeMonitor(FakeQemu& q) : q_(q) {}
  Status EnableIgnoreShared() override {
    std::lock_guard lock(q_.mu);
    ++q_.ignore_shared;
    return q_.caps_error;
  }
  Status ListenForMigration(const std::string& socket_path) override {
    std::lock_guard lock(q_.mu);
    q_.listen_socket = socket_path;
    return q_.listen_error;
  }
  Result<qmp::VmStatus> QueryStatus() override {
    if (closed_) return Status::FailedPrecondition("QMP connection closed");
    return q_.Query();
  }
  bool connected() const override {
    std::lock_guard lock(q_.mu);
    return !closed_ && q_.alive;
  }
  void Close() override { closed_ = true; }

 private:
  FakeQemu& q_;
  std::atomic<bool> closed_{false};
};

class FakeQemuProcess final : public IncomingQemu {
 public:
  explicit FakeQemuProcess(FakeQemu& q) : q_(q) {}
  bool LibvirtStarts() const override { return q_.libvirt; }
  bool Running() override {
    std::lock_guard lock(q_.mu);
    return q_.running_before;
  }
  Status StartIncoming() override {
    if (q_.on_start) q_.on_start();
    std::lock_guard lock(q_.mu);
    ++q_.starts;
    if (!q_.start_error.ok()) return q_.start_error;
    q_.alive = true;
    return Status::Ok();
  }
  Result<std::unique_ptr<IncomingMonitor>> ConnectMonitor(std::chrono::milliseconds) override {
    std::lock_guard lock(q_.mu);
    if (!q_.connect_error.ok()) return q_.connect_error;
    if (q_.libvirt && !q_.alive) return Status::Io("connecting to QMP: No such file or directory");
    return std::unique_ptr<IncomingMonitor>(std::make_unique<FakeMonitor>(q_));
  }
  Status Stop() override {
    std::lock_guard lock(q_.mu);
    ++q_.stops;
    if (!q_.alive) return Status::NotFound("QEMU does not run");
    q_.alive = false;
    return Status::Ok();
  }

 private:
  FakeQemu& q_;
};

// QEMU's incoming socket: what was written, whether it was closed.
struct FakeStreams final : public QemuStreamConnector {
  struct State {
    int connects = 0;
    std::string written;
    std::deque<std::string> back;  // what QEMU writes back, one ReadBack each
    bool closed = false;
    Status connect_error;
  };
  class Socket final : public QemuStreamSocket {
   public:
    explicit Socket(State& s) : s_(s) {}
    ~Socket() override { s_.closed = true; }
    Status Write(std::string_view bytes) override {
      s_.written.append(bytes);
      return Status::Ok();
    }
    Result<std::optional<std::string>> ReadBack() override {
      if (s_.back.empty()) return std::optional<std::string>(std::string());
      std::string b = std::move(s_.back.front());
      s_.back.pop_front();
      return std::optional<std::string>(std::move(b));
    }
    int wait_fd() const override { return -1; }

   private:
    State& s_;
  };
  Result<std::unique_ptr<QemuStreamSocket>> Connect(const std::string&) override {
    ++state.connects;
    if (!state.connect_error.ok()) return state.connect_error;
    return std::unique_ptr<QemuStreamSocket>(std::make_unique<Socket>(state));
  }
  State state;
};

}  // namespace mkd::migrate::testing

#endif  // MKD_MIGRATE_TOOL_INCOMING_FAKE_QEMU_H_
