// The pages a post-copy arrival still lacks (see postcopy.h).
#include "memfs/postcopy.h"

#include <algorithm>
#include <cstring>

namespace mkd::memfs {
namespace {

constexpr size_t kMaxLatencySamples = 1 << 20;

double Percentile(std::vector<uint32_t> v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(i), v.end());
  return v[i] / 1000.0;
}

}  // namespace

Postcopy::Postcopy(PageBitmap missing, std::chrono::milliseconds lease)
    : missing_(std::move(missing)),
      requested_(missing_.pages()),
      missing_count_(missing_.Count()),
      lease_(lease),
      start_(PostcopyClock::now()),
      last_poll_(start_) {
  stats_.total = missing_count_;
  MaybeCompleteLocked(start_);
}

void Postcopy::MaybeCompleteLocked(PostcopyClock::time_point now) {
  if (missing_count_ == 0 && state_ == State::kActive) {
    state_ = State::kComplete;
    end_ = now;
  }
}

bool Postcopy::AnyMissingLocked(uint64_t first, uint64_t last) const {
  if (missing_count_ == 0) return false;
  const uint64_t next = missing_.NextSet(first);
  return next <= last;
}

Postcopy::ReadCheck Postcopy::ParkIfMissing(const ParkedRead& read) {
  std::lock_guard lock(mu_);
  const uint64_t last = std::min(read.last, missing_.pages() - 1);
  if (!AnyMissingLocked(read.first, last)) return ReadCheck::kPresent;
  if (state_ == State::kFailed) return ReadCheck::kFailed;
  parked_.push_back(read);
  ++stats_.faults;
  bool added = false;
  for (uint64_t p = missing_.NextSet(read.first); p <= last; p = missing_.NextSet(p + 1)) {
    if (!requested_.Test(p)) {
      requested_.Set(p);
      wanted_.push_back(p);
      added = true;
    }
  }
  if (added) wanted_cv_.notify_all();
  return ReadCheck::kParked;
}

void Postcopy::Claim(uint64_t first, uint64_t count) {
  std::lock_guard lock(mu_);
  const uint64_t end = std::min(first + count, missing_.pages());
  for (uint64_t p = first; p < end; ++p) {
    if (missing_.Test(p)) {
      missing_.Clear(p);
      --missing_count_;
    }
  }
  MaybeCompleteLocked(PostcopyClock::now());
}

bool Postcopy::IsMissing(uint64_t page) const {
  std::lock_guard lock(mu_);
  return page < missing_.pages() && missing_.Test(page);
}

Result<std::vector<ParkedRead>> Postcopy::Receive(uint64_t first, uint64_t count, const char* data,
                                                  PageFile& file) {
  std::lock_guard lock(mu_);
  if (first >= missing_.pages() || count > missing_.pages() - first) {
    return Status::OutOfRange("received pages " + std::to_string(first) + "+" +
                              std::to_string(count) + " lie past the end of the block");
  }
  if (state_ == State::kFailed) {
    return Status::FailedPrecondition("the post-copy failed (" + stats_.reason +
                                      "): pages are no longer taken");
  }
  // Runs of still-missing pages are written; present ones are skipped.
  for (uint64_t at = first; at < first + count;) {
    if (!missing_.Test(at)) {
      ++stats_.skipped;
      ++at;
      continue;
    }
    uint64_t end = at + 1;
    while (end < first + count && missing_.Test(end)) ++end;
    const int rc = data != nullptr ? file.WritePages(at, end - at, data + (at - first) * 4096)
                                   : file.PunchPages(at, end - at);
    if (rc < 0) {
      return Status::Io("page store: writing post-copy pages: " + std::string(std::strerror(-rc)));
    }
    for (uint64_t p = at; p < end; ++p) {
      missing_.Clear(p);
      (requested_.Test(p) ? stats_.fetched : stats_.pushed) += 1;
    }
    missing_count_ -= end - at;
    at = end;
  }
  const auto now = PostcopyClock::now();
  MaybeCompleteLocked(now);
  return TakeCompleteLocked(now);
}

std::vector<ParkedRead> Postcopy::TakeCompleteLocked(PostcopyClock::time_point now) {
  std::vector<ParkedRead> done;
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (AnyMissingLocked(it->first, std::min(it->last, missing_.pages() - 1))) {
      ++it;
      continue;
    }
    if (latencies_us_.size() < kMaxLatencySamples) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - it->since);
      latencies_us_.push_back(static_cast<uint32_t>(std::min<int64_t>(us.count(), UINT32_MAX)));
    }
    done.push_back(*it);
    it = parked_.erase(it);
  }
  return done;
}

std::vector<uint64_t> Postcopy::TakeWanted(size_t max, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  last_poll_ = PostcopyClock::now();
  wanted_cv_.wait_for(lock, wait, [this] { return !wanted_.empty() || state_ != State::kActive; });
  last_poll_ = PostcopyClock::now();
  std::vector<uint64_t> out;
  while (!wanted_.empty() && out.size() < max) {
    const uint64_t p = wanted_.front();
    wanted_.pop_front();
    if (missing_.Test(p)) out.push_back(p);  // it may have arrived by push meanwhile
  }
  return out;
}

std::vector<ParkedRead> Postcopy::Fail(const std::string& reason, PageBitmap* missing) {
  std::lock_guard lock(mu_);
  *missing = missing_;
  if (state_ != State::kActive) return {};
  state_ = State::kFailed;
  stats_.reason = reason;
  end_ = PostcopyClock::now();
  wanted_.clear();
  wanted_cv_.notify_all();
  std::vector<ParkedRead> out(parked_.begin(), parked_.end());
  parked_.clear();
  return out;
}

bool Postcopy::LeaseExpired(PostcopyClock::time_point now) const {
  std::lock_guard lock(mu_);
  return state_ == State::kActive && now - last_poll_ > lease_;
}

bool Postcopy::active() const {
  std::lock_guard lock(mu_);
  return state_ == State::kActive;
}

uint64_t Postcopy::missing() const {
  std::lock_guard lock(mu_);
  return missing_count_;
}

PostcopyStats Postcopy::Stats() const {
  std::lock_guard lock(mu_);
  PostcopyStats s = stats_;
  s.state = state_ == State::kActive     ? "active"
            : state_ == State::kComplete ? "complete"
                                         : "failed";
  s.missing = missing_count_;
  s.parked = parked_.size();
  s.fault_median_ms = Percentile(latencies_us_, 0.5);
  s.fault_p99_ms = Percentile(latencies_us_, 0.99);
  s.fault_max_ms = latencies_us_.empty()
                       ? 0
                       : *std::max_element(latencies_us_.begin(), latencies_us_.end()) / 1000.0;
  const auto end = state_ == State::kActive ? PostcopyClock::now() : end_;
  s.seconds = std::chrono::duration<double>(end - start_).count();
  return s;
}

}  // namespace mkd::memfs
