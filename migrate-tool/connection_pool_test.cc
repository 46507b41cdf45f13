// Tests for serve's admission of connections and the reaping of their threads
// (connection_pool.h): the bound, a refused thread, and finished threads joined by Reap.
#include "migrate-tool/connection_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace mkd::migrate {
namespace {

// Work that blocks until Release(): a connection being served.
class Gate {
 public:
  std::function<void()> Work() {
    return [this] {
      std::unique_lock lock(mu_);
      ++running_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
    };
  }
  void Release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitRunning(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return running_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int running_ = 0;
};

// Reaps until every finished thread is joined (a thread finishes shortly after its work).
void ReapUntil(ConnectionPool& pool, size_t unjoined) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pool.unjoined() > unjoined && std::chrono::steady_clock::now() < deadline) {
    pool.Reap();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

TEST(ConnectionPoolTest, RefusesBeyondTheBoundAndAdmitsAgainOnceOneEnds) {
  ConnectionPool pool(3);
  Gate gate;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.Admit(gate.Work()).ok());
  gate.WaitRunning(3);
  bool ran = false;
  Status refused = pool.Admit([&ran] { ran = true; });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("--max-sessions 3"), std::string::npos) << refused.message();
  EXPECT_EQ(pool.active(), 3u);
  gate.Release();
  ReapUntil(pool, 0);
  EXPECT_EQ(pool.active(), 0u);
  EXPECT_EQ(pool.unjoined(), 0u);
  std::atomic<bool> later{false};
  ASSERT_TRUE(pool.Admit([&later] { later = true; }).ok());
  pool.JoinAll();
  EXPECT_TRUE(later.load());
  EXPECT_FALSE(ran);  // refused work never runs
}

TEST(ConnectionPoolTest, FinishedThreadsAreJoinedNotKeptUntilExit) {
  ConnectionPool pool(4);
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) {
    Status s = pool.Admit([&done] { ++done; });
    if (!s.ok()) {  // all four busy for a moment: reap and retry, as serve's loop does
      ReapUntil(pool, 0);
      ASSERT_TRUE(pool.Admit([&done] { ++done; }).ok());
    }
    pool.Reap();
    ASSERT_LE(pool.unjoined(), 4u) << "threads of finished connections are kept";
  }
  ReapUntil(pool, 0);
  EXPECT_EQ(pool.unjoined(), 0u);
  EXPECT_EQ(done.load(), 1000);
}

TEST(ConnectionPoolTest, NoThreadIsARefusalNotAnAbort) {
  int attempts = 0;
  ConnectionPool pool(2, [&attempts](std::function<void()>) -> Result<std::thread> {
    ++attempts;
    return Status::Io("no thread for the connection (Resource temporarily unavailable)");
  });
  for (int i = 0; i < 5; ++i) {
    Status s = pool.Admit([] { FAIL() << "work of a refused connection ran"; });
    EXPECT_EQ(s.code(), ErrorCode::kIo);
  }
  EXPECT_EQ(attempts, 5);  // each failure gave its slot back: never stuck at the bound
  EXPECT_EQ(pool.active(), 0u);
  EXPECT_EQ(pool.unjoined(), 0u);
}

TEST(ConnectionPoolTest, StartThreadTurnsSystemErrorIntoStatus) {
  // The default starter starts a real thread.
  std::atomic<bool> ran{false};
  Result<std::thread> t = ConnectionPool::StartThread([&ran] { ran = true; });
  ASSERT_TRUE(t.ok());
  t->join();
  EXPECT_TRUE(ran.load());
}

}  // namespace
}  // namespace mkd::migrate
