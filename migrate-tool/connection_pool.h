// ConnectionPool: which connections `mkd-migrate serve` admits, and the threads that serve them.
// At most `max_sessions` connections are served at once (the handshake included); one more is
// refused at once, and so is one for which the OS gives no thread (never an abort). A thread
// whose work returned is joined by the next Reap(), so finished connections cost nothing; its
// slot is free from then on, so that threads never outnumber max_sessions (a slot freed when the
// work returned let a 33rd thread start while a 32nd was still ending).
//
// The thread is started through a ThreadStarter (the default: std::thread, with its
// std::system_error turned into a Status), so tests drive the refusal paths with fakes.
// Thread safety: Admit, Reap and JoinAll are called from one thread (serve's accept loop); the
// admitted work runs on its own thread and may finish at any time. active() and unjoined() may
// be read from any thread. Not copyable or movable (running threads refer to it).
#ifndef MKD_MIGRATE_TOOL_CONNECTION_POOL_H_
#define MKD_MIGRATE_TOOL_CONNECTION_POOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"

namespace mkd::migrate {

class ConnectionPool {
 public:
  // Starts `work` on a new thread, or says why it cannot (kIo for a refused thread).
  using ThreadStarter = std::function<Result<std::thread>(std::function<void()> work)>;
  static Result<std::thread> StartThread(std::function<void()> work);

  explicit ConnectionPool(size_t max_sessions, ThreadStarter start = StartThread);
  ~ConnectionPool() { JoinAll(); }
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs `work` on its own thread when fewer than max_sessions connections are served now.
  // Otherwise returns kFailedPrecondition (the bound; the message names --max-sessions) or the
  // starter's error, and `work` never runs: the caller closes the connection.
  Status Admit(std::function<void()> work);
  // Joins every thread whose work has returned; returns how many. serve calls it every 200 ms.
  size_t Reap();
  // Waits for every admitted work to return and joins its thread (at shutdown).
  void JoinAll();

  size_t max_sessions() const { return max_sessions_; }
  size_t active() const;    // admitted, work not returned yet
  size_t unjoined() const;  // threads not joined yet (finished ones until the next Reap)

 private:
  const size_t max_sessions_;
  const ThreadStarter start_;
  mutable std::mutex mu_;  // guards everything below
  size_t active_ = 0;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::thread> threads_;  // by admission id; empty while being started
  std::vector<uint64_t> finished_;           // ids whose work returned, not joined yet
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_CONNECTION_POOL_H_
