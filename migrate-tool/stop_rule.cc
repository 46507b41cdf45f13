// The downtime forecast that ends pre-copy's rounds (see stop_rule.h).
#include "migrate-tool/stop_rule.h"

#include <algorithm>

#include "genstore/generation.h"

namespace mkd::migrate {

double StopRule::DirtyRate(const RoundClock& r) {
  const double own =
      r.interval_seconds > 0 ? static_cast<double>(r.dirty_pages) / r.interval_seconds : 0.0;
  return std::max(own, r.earlier_pages_per_second);
}

StopForecast StopRule::Forecast(const RoundClock& r) const {
  const double rate = LinkRateOr(r.link_bytes_per_second);
  const double page_seconds = static_cast<double>(kPageSize) / rate;
  StopForecast f;
  f.send_seconds = static_cast<double>(r.send_pages.value_or(r.dirty_pages)) * page_seconds;
  const double exposed = std::max(0.0, r.since_cut_seconds) + f.send_seconds + o_.lead_seconds;
  // Never fewer than the round's own set: a guest rewriting a hot set fills it again much
  // faster than its unique pages over a long interval suggest (test_converge: 4,150 pages over
  // 7 s looked like 590 pages/s; the set was full again within a second).
  f.final_pages = std::max(static_cast<double>(r.dirty_pages), DirtyRate(r) * exposed);
  f.final_pages += static_cast<double>(r.held_pages);
  f.downtime_seconds =
      std::max(0.0, r.sync_seconds) + f.final_pages * page_seconds + o_.fixed_seconds;
  f.last = f.downtime_seconds <= o_.budget_seconds;
  return f;
}

double StopRule::PauseIfNow(const RoundClock& r) const {
  const double rate = LinkRateOr(r.link_bytes_per_second);
  const double page_seconds = static_cast<double>(kPageSize) / rate;
  const double per_second = DirtyRate(r);
  const double pages = per_second > 0
                           ? per_second * (std::max(0.0, r.since_cut_seconds) + o_.lead_seconds)
                           : static_cast<double>(r.dirty_pages);
  return std::max(0.0, r.sync_seconds) + pages * page_seconds + o_.fixed_seconds;
}

}  // namespace mkd::migrate
