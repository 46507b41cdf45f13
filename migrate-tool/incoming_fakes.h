// Fakes of the destination's ports (incoming_ports.h) for unit tests: a scripted source
// (FakeLink), memfs (FakeMemfs), the destination QEMU and its monitor (FakeQemu), this host
// (FakeHost) and QEMU's incoming socket (FakeStreams). Each records what was done to it, so a
// test asserts the memfs calls made (abort or commit), QEMU's fate and the frames sent.
// Test-only: compiled into the unit tests, never into the migrate library.
// Thread safety: every fake may be used from the loop's thread and the post-copy's poller and
// watcher threads at once (one mutex each); a test reads them after the code under test ended.
#ifndef MKD_MIGRATE_TOOL_INCOMING_FAKES_H_
#define MKD_MIGRATE_TOOL_INCOMING_FAKES_H_

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "migrate-tool/incoming.h"
#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/wire.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {

// GoogleTest prints a phase by its name.
inline void PrintTo(Incoming::Phase phase, std::ostream* os) { *os << IncomingPhaseName(phase); }

namespace testing {

// The source as a script: frames it sends and actions done when the destination reaches them
// (kill QEMU, ...). When the script is empty, Receive returns end() (by default the connection
// ended, as when the source's mkd-migrate dies); with set_silent(true), an empty script is a
// source that sends nothing: Readable waits and says no. `on_send` is the source's reaction to
// each frame the destination sends (it may Push).
class FakeLink final : public IncomingLink {
 public:
  explicit FakeLink(std::string peer = "host-a") : peer_(std::move(peer)) {}

  void Push(FrameType type, std::string payload = {}) {
    std::lock_guard lock(mu_);
    script_.push_back(Frame{type, std::move(payload)});
  }
  void Do(std::function<void()> action) {
    std::lock_guard lock(mu_);
    script_.push_back(std::move(action));
  }
  void set_end(Status end) {
    std::lock_guard lock(mu_);
    end_ = std::move(end);
  }
  void set_silent(bool silent) {
    std::lock_guard lock(mu_);
    silent_ = silent;
  }
  std::function<void(const Frame&)> on_send;

  Status Send(FrameType type, std::string_view payload) override {
    Frame f{type, std::string(payload)};
    {
      std::lock_guard lock(mu_);
      sent_.push_back(f);
    }
    if (on_send) on_send(f);
    return Status::Ok();
  }
  Result<Frame> Receive() override {
    while (true) {
      std::function<void()> action;
      {
        std::lock_guard lock(mu_);
        if (script_.empty()) return end_;
        auto item = std::move(script_.front());
        script_.pop_front();
        if (Frame* f = std::get_if<Frame>(&item)) return std::move(*f);
        action = std::move(std::get<std::function<void()>>(item));
      }
      action();
    }
  }
  bool Readable(std::chrono::milliseconds wait, int wake_fd) override {
    {
      std::lock_guard lock(mu_);
      if (!script_.empty() || !silent_) return true;
    }
    pollfd p{wake_fd, POLLIN, 0};
    (void)::poll(&p, wake_fd >= 0 ? 1 : 0, static_cast<int>(wait.count()));
    return false;
  }
  const std::string& peer_host() const override { return peer_; }

  std::vector<Frame> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  std::vector<FrameType> sent_types() const {
    std::vector<FrameType> types;
    for (const Frame& f : sent()) types.push_back(f.type);
    return types;
  }
  // The RESULT frames sent, parsed.
  std::vector<ResultMsg> results() const {
    std::vector<ResultMsg> out;
    for (const Frame& f : sent()) {
      if (f.type != FrameType::kResult) continue;
      Result<ResultMsg> r = ParseResult(f.payload);
      out.push_back(r.ok() ? *r : ResultMsg{false, "unparsable RESULT: " + r.status().ToString()});
    }
    return out;
  }

 private:
  const std::string peer_;
  mutable std::mutex mu_;  // guards everything below
  std::deque<std::variant<Frame, std::function<void()>>> script_;
  Status end_ = Status::Io("the peer closed the connection");
  bool silent_ = false;
  std::vector<Frame> sent_;
};

// memfs as the destination sees it: the VM directory and its RAM file. `calls` lists what was
// done, in order ("arrive 5", "open", "zeros", "runs", "later", "fsync", "commit", "abort",
// "digests", "dirty", "fail_postcopy"); `errors` makes one operation fail (by the same name,
// every time).
struct FakeMemfs {
  mutable std::mutex mu;  // guards everything below
  std::vector<std::string> calls;
  std::map<std::string, Status> errors;
  RamFileSummary summary{"incoming", 0, Uuid(), 0, 0, {}};  // pages: set by the test
  std::string table = "table-blob", digests = "digests-blob", dirty = "dirty-blob";
  uint64_t pages_received = 0;  // by runs and zeros
  // Post-copy: the batches of wanted pages TakeWanted hands out, then empty answers.
  std::deque<std::vector<uint64_t>> wanted;
  std::string wanted_state = "active";
  uint64_t take_wanted_calls = 0;
  PostcopyStatus postcopy{"complete", "", 0, {}};
  std::string fail_reason;

  Status Call(const std::string& name) {
    std::lock_guard lock(mu);
    calls.push_back(name);
    auto it = errors.find(name);
    return it == errors.end() ? Status::Ok() : it->second;
  }
  bool Called(const std::string& name) const {
    std::lock_guard lock(mu);
    return std::find(calls.begin(), calls.end(), name) != calls.end();
  }
};

class FakeRam final : public IncomingRam {
 public:
  explicit FakeRam(FakeMemfs& m) : m_(m) {}
  Result<RamFileSummary> Summary() override {
    MKD_RETURN_IF_ERROR(Error("summary"));
    std::lock_guard lock(m_.mu);
    return m_.summary;
  }
  Result<std::string> TableBlob() override {
    MKD_RETURN_IF_ERROR(Error("table"));
    std::lock_guard lock(m_.mu);
    return m_.table;
  }
  Status ReceiveZeros(uint64_t, uint64_t count, Generation) override {
    MKD_RETURN_IF_ERROR(m_.Call("zeros"));
    std::lock_guard lock(m_.mu);
    m_.pages_received += count;
    return Status::Ok();
  }
  Status ReceiveRuns(const std::vector<memfs::LaterRun>& runs, std::string_view) override {
    MKD_RETURN_IF_ERROR(m_.Call("runs"));
    std::lock_guard lock(m_.mu);
    for (const memfs::LaterRun& r : runs) m_.pages_received += r.count;
    return Status::Ok();
  }
  Status ReceiveLater(const std::vector<GenRun>&) override { return m_.Call("later"); }
  Result<std::string> DigestsBlob() override {
    MKD_RETURN_IF_ERROR(m_.Call("digests"));
    std::lock_guard lock(m_.mu);
    return m_.digests;
  }
  Result<std::string> DirtyBlob() override {
    MKD_RETURN_IF_ERROR(m_.Call("dirty"));
    std::lock_guard lock(m_.mu);
    return m_.dirty;
  }
  Status Fsync() override { return m_.Call("fsync"); }
  // Like memfs, waits a little when no read waits (a few ms instead of up to 0.5 s).
  Result<WantedPages> TakeWanted() override {
    {
      std::lock_guard lock(m_.mu);
      ++m_.take_wanted_calls;
      if (auto it = m_.errors.find("wanted"); it != m_.errors.end()) return it->second;
      if (!m_.wanted.empty()) {
        WantedPages w{m_.wanted_state, m_.wanted.front().size(), m_.wanted.front()};
        m_.wanted.pop_front();
        return w;
      }
      if (m_.wanted_state != "active") return WantedPages{m_.wanted_state, 0, {}};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return WantedPages{"active", 0, {}};
  }
  Result<PostcopyStatus> Postcopy() override {
    MKD_RETURN_IF_ERROR(Error("postcopy"));
    std::lock_guard lock(m_.mu);
    return m_.postcopy;
  }
  Status FailPostcopy(std::string_view reason) override {
    {
      std::lock_guard lock(m_.mu);
      m_.fail_reason = std::string(reason);
    }
    return m_.Call("fail_postcopy");
  }

 private:
  // Failure injection without a call record (reads that happen often).
  Status Error(const std::string& name) {
    std::lock_guard lock(m_.mu);
    auto it = m_.errors.find(name);
    return it == m_.errors.end() ? Status::Ok() : it->second;
  }
  FakeMemfs& m_;
};

class FakeMemfsDir final : public IncomingMemfs {
 public:
  explicit FakeMemfsDir(FakeMemfs& m) : m_(m) {}
  Status Arrive(Epoch epoch, const Uuid&) override {
    return m_.Call("arrive " + std::to_string(epoch));
  }
  Status Commit() override { return m_.Call("commit"); }
  Status Abort() override { return m_.Call("abort"); }
  Result<std::unique_ptr<IncomingRam>> OpenRam() override {
    MKD_RETURN_IF_ERROR(m_.Call("open"));
    return std::unique_ptr<IncomingRam>(std::make_unique<FakeRam>(m_));
  }

 private:
  FakeMemfs& m_;
};

// The destination QEMU: its process and monitor. query-status answers come from `statuses` in
// turn (the last one repeats); "gone" answers as QMP does once QEMU died. Kill() makes it die.
struct FakeQemu {
  mutable std::mutex mu;        // guards everything below
  bool running_before = false;  // a QEMU of this VM runs here already
  bool alive = false;
  int starts = 0, stops = 0, queries = 0;
  Status start_error, connect_error, caps_error, listen_error;
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
  bool Running() override {
    std::lock_guard lock(q_.mu);
    return q_.running_before;
  }
  Status StartIncoming() override {
    std::lock_guard lock(q_.mu);
    ++q_.starts;
    if (!q_.start_error.ok()) return q_.start_error;
    q_.alive = true;
    return Status::Ok();
  }
  Result<std::unique_ptr<IncomingMonitor>> ConnectMonitor(std::chrono::milliseconds) override {
    std::lock_guard lock(q_.mu);
    if (!q_.connect_error.ok()) return q_.connect_error;
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

// A VM definition on memfs with `memory_mib` MiB of RAM (4 MiB: 1024 pages).
inline qemuconfig::VmDefinition TestVm(uint64_t memory_mib = 4) {
  qemuconfig::VmDefinition d;
  d.uuid = *Uuid::Parse("6f1c2a9e-0b7d-4c3e-9a51-2d8e4f6a7b90");
  d.name = "vm1";
  d.memory_mib = memory_mib;
  d.backing = qemuconfig::MemoryBacking::kMemfs;
  d.memory_dir = "/fake/memfs";
  d.run_dir = "/fake/run";
  d.kernel = "/fake/vmlinuz";
  return d;
}

// This host: holds `definition` (none when nullopt), its memfs and its QEMU.
class FakeHost final : public IncomingHost {
 public:
  std::optional<qemuconfig::VmDefinition> definition = TestVm();
  int loads = 0;
  FakeMemfs memfs;
  FakeQemu qemu;

  std::string DefinitionPath(const Uuid& vm) const override {
    return "/fake/vms/" + vm.ToString() + ".json";
  }
  Result<std::optional<qemuconfig::VmDefinition>> LoadDefinition(const Uuid&) override {
    ++loads;
    return definition;
  }
  std::unique_ptr<IncomingMemfs> MemfsFor(const qemuconfig::VmDefinition&) override {
    return std::make_unique<FakeMemfsDir>(memfs);
  }
  std::unique_ptr<IncomingQemu> QemuFor(const qemuconfig::VmDefinition&) override {
    return std::make_unique<FakeQemuProcess>(qemu);
  }
};

// QEMU's incoming socket: what was written, whether it was closed.
struct FakeStreams final : public QemuStreamConnector {
  struct State {
    int connects = 0;
    std::string written;
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

// A PAGES payload of `count` pages from `first`, generation `gen`, each page filled with `fill`.
inline std::string PagesPayload(uint64_t first, uint32_t count, Generation gen = 1,
                                char fill = 'x') {
  return EncodePagesHeader(0, first, count, gen) + std::string(count * kPageSize, fill);
}
inline std::string ZerosPayload(uint64_t first, uint32_t count, Generation gen = 1) {
  return EncodePagesHeader(0, first, count, gen);
}

}  // namespace testing
}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_INCOMING_FAKES_H_
