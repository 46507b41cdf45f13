// FakeMemfs: memfs as the destination sees it (incoming_ports.h's IncomingMemfs and
// IncomingRam), recording every call, for the destination's unit tests.
// Test-only: compiled into the unit tests, never into the migrate library. Thread-safe (one
// mutex): the post-copy's poller and watcher threads use it beside the loop's thread; a test
// reads it after the code under test ended.
#ifndef MKD_MIGRATE_TOOL_INCOMING_FAKE_MEMFS_H_
#define MKD_MIGRATE_TOOL_INCOMING_FAKE_MEMFS_H_

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "migrate-tool/incoming_ports.h"

namespace mkd::migrate::testing {

// memfs as the destination sees it: the VM directory and its RAM file. `calls` lists what was
// done, in order ("arrive 5", "open", "has_ram", "zeros", "runs", "later", "fsync", "commit",
// "abort", "digests", "dirty", "fail_postcopy"); `errors` makes one operation fail (by the same
// name, every time).
struct FakeMemfs {
  mutable std::mutex mu;  // guards everything below
  std::vector<std::string> calls;
  std::map<std::string, Status> errors;
  RamFileSummary summary = [] {
    RamFileSummary s;
    s.state = "incoming";
    return s;
  }();  // pages: set by the test
  std::string table = "table-blob", digests = "digests-blob", dirty = "dirty-blob";
  uint64_t pages_received = 0;  // by runs and zeros
  // Each page received by runs: its generation and content (the last one written).
  std::map<uint64_t, std::pair<Generation, std::string>> received;
  bool has_ram = true;          // the RAM file exists (HasRam)
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
  Status ReceiveRuns(const std::vector<memfs_protocol::LaterRun>& runs,
                     std::string_view data) override {
    MKD_RETURN_IF_ERROR(m_.Call("runs"));
    std::lock_guard lock(m_.mu);
    size_t at = 0;
    for (const memfs_protocol::LaterRun& r : runs) {
      m_.pages_received += r.count;
      for (uint64_t p = r.first; p < r.first + r.count && at + kPageSize <= data.size(); ++p) {
        m_.received[p] = {r.gen, std::string(data.substr(at, kPageSize))};
        at += kPageSize;
      }
    }
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
  Status PrepareRam(uint64_t) override { return m_.Call("prepare"); }
  Status Commit() override { return m_.Call("commit"); }
  Status Abort() override { return m_.Call("abort"); }
  Result<std::unique_ptr<IncomingRam>> OpenRam() override {
    MKD_RETURN_IF_ERROR(m_.Call("open"));
    return std::unique_ptr<IncomingRam>(std::make_unique<FakeRam>(m_));
  }
  Result<bool> HasRam() override {
    MKD_RETURN_IF_ERROR(m_.Call("has_ram"));
    std::lock_guard lock(m_.mu);
    return m_.has_ram;
  }

 private:
  FakeMemfs& m_;
};

}  // namespace mkd::migrate::testing

#endif  // MKD_MIGRATE_TOOL_INCOMING_FAKE_MEMFS_H_
