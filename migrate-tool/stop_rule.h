// StopRule: when pre-copy's rounds end. After each round's sync the source asks it what the
// downtime would be if that round were the last one: the pause then has to carry every page the
// guest writes from the moment that sync took its pages (its "cut") until the VM pauses, which
// is more than the round's own set whenever the sync itself, or the round's sending, takes
// longer than the interval the set was written in (overlapped syncs, slow syncs). The forecast:
//
//   dirty rate   D = the larger of: pages of this round / seconds between the previous cut and
//                    this one, and the same of the round before
//   final set    F = max(pages of this round,
//                        D x (seconds since this cut + sending this round + lead to the pause))
//                      + pages held back for the pause (hot_pages.h)
//   downtime       = a sync + F pages at the link rate + fixed (device state, commit)
//
// The round is the last when that downtime fits the budget. F is never below the round's own
// set: unique pages do not grow linearly with time, and a guest that rewrites a hot set fills it
// again in much less than the interval it was counted over. D is never below the round before's
// rate: one round's rate can dip while the guest is briefly held up (by the sync's write-back, or
// on the shared cores) and then catches up; trusting the dip ended the rounds of a 30,000
// pages/s guest with a forecast of 229 ms and a pause of 613 ms (eval-paper, 2026-12-07). It
// costs at most one more round once the guest really slowed down. Without a measured interval
// (no time between the two cuts) and no earlier rate, F is the round's own set. Held pages count in
// full on top of it (they may or may not be written again: the forecast takes the larger case).
// Pure arithmetic, no I/O; thread-compatible.
#ifndef MKD_MIGRATE_TOOL_STOP_RULE_H_
#define MKD_MIGRATE_TOOL_STOP_RULE_H_

#include <cstdint>
#include <optional>

namespace mkd::migrate {

struct StopRuleOptions {
  double budget_seconds = 0.3;  // --downtime
  double lead_seconds = 0.02;   // from the end of the last round until QEMU pauses the VM
  double fixed_seconds = 0.03;  // in the pause besides syncing and sending: device state, commit
};

// The sending rate assumed before one was measured (bytes/s: a little under 1 Gbit/s).
inline constexpr double kUnmeasuredLinkBytesPerSecond = 100e6;

// `measured` when it is one (> 0), kUnmeasuredLinkBytesPerSecond otherwise.
inline double LinkRateOr(double measured) {
  return measured > 0 ? measured : kUnmeasuredLinkBytesPerSecond;
}

// One round's numbers, as the source measured them.
struct RoundClock {
  uint64_t dirty_pages = 0;         // the round's set (pages written between the two cuts)
  double interval_seconds = 0;      // between the previous sync's cut and this one's
  double since_cut_seconds = 0;     // from this sync's cut until now (before sending the round)
  double sync_seconds = 0;          // how long a sync takes (the pause has one)
  double link_bytes_per_second = 0;  // the sending rate (0: not measured yet, LinkRateOr)
  // Pages the round sends, when not its whole set (some held back, held ones that cooled off).
  std::optional<uint64_t> send_pages = std::nullopt;
  uint64_t held_pages = 0;  // held back for the pause after this round
  // The round before's own rate (its set over its interval, pages/s; 0: none measured).
  double earlier_pages_per_second = 0;
};

struct StopForecast {
  double final_pages = 0;       // the set the pause would carry after this round
  double downtime_seconds = 0;  // the pause that would follow this round
  double send_seconds = 0;      // sending this round
  bool last = false;            // downtime_seconds fits the budget: switch over after this round
};

class StopRule {
 public:
  explicit StopRule(StopRuleOptions o) : o_(o) {}
  StopForecast Forecast(const RoundClock& round) const;
  // After the last round was sent, while something else must happen before QEMU pauses the VM
  // (libvirt starting the destination's QEMU): the pause if it came now. The set is the round's
  // rate (DirtyRate) over the time since its cut (round.since_cut_seconds) plus the lead (no
  // rate: the round's own set).
  double PauseIfNow(const RoundClock& round) const;
  // D above: the round's own rate or the round before's, the larger (0: neither measured).
  static double DirtyRate(const RoundClock& round);
  const StopRuleOptions& options() const { return o_; }

 private:
  StopRuleOptions o_;
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_STOP_RULE_H_
