// FakeLink: the source of a migration as a script, for the destination's unit tests
// (incoming_ports.h's IncomingLink), and the payloads such a script sends.
// Test-only: compiled into the unit tests, never into the migrate library. Thread-safe (one
// mutex): the post-copy's poller and watcher threads use it beside the loop's thread; a test
// reads it after the code under test ended.
#ifndef MKD_MIGRATE_TOOL_INCOMING_FAKE_LINK_H_
#define MKD_MIGRATE_TOOL_INCOMING_FAKE_LINK_H_

#include <poll.h>

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate::testing {

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
    script_.emplace_back(std::in_place_type<Frame>, Frame{type, std::move(payload)});
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

// A PAGES payload of `count` pages from `first`, generation `gen`, each page filled with `fill`.
inline std::string PagesPayload(uint64_t first, uint32_t count, Generation gen = 1,
                                char fill = 'x') {
  return EncodePagesHeader(0, first, count, gen) + std::string(count * kPageSize, fill);
}
inline std::string ZerosPayload(uint64_t first, uint32_t count, Generation gen = 1) {
  return EncodePagesHeader(0, first, count, gen);
}

}  // namespace mkd::migrate::testing

#endif  // MKD_MIGRATE_TOOL_INCOMING_FAKE_LINK_H_
