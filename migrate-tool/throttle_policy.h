// ThrottlePolicy: when to slow a guest's vCPUs down during pre-copy, and by how much. The source
// feeds it each round's numbers and applies what it returns with VcpuThrottle (vcpu_throttle.h).
// The rule starts as QEMU's auto-converge: when, in two rounds in a row, the guest dirtied more
// than half of what the round sent, it is outrunning the link, so the throttle rises to
// initial_percent. Unlike QEMU, once the guest is throttled every further hot round raises it,
// and each rise at least halves the CPU time the vCPUs keep (and adds at least step_percent):
// 20, 60, 80, 90, 99 with the defaults. A guest that writes little per page (a
// rate-limited writer) is only held back near 99 %, and QEMU's 10 % per two hot rounds took it
// there in 18 hot rounds (60-90 s of a hop, docs/decisions.md "pipe"); this takes 6. Never above
// max_percent; it never falls during a migration.
// Pure arithmetic, no I/O; thread-compatible.
#ifndef MKD_MIGRATE_TOOL_THROTTLE_POLICY_H_
#define MKD_MIGRATE_TOOL_THROTTLE_POLICY_H_

#include <cstdint>

#include "base/status.h"

namespace mkd::migrate {

// Percentages of the vCPUs' time taken away (QEMU's cpu-throttle-initial, -increment, -max).
struct ThrottleOptions {
  uint32_t initial_percent = 20;  // --throttle-initial
  uint32_t step_percent = 10;     // --throttle-step: the least a further rise adds
  uint32_t max_percent = 99;      // --max-throttle (QEMU's max-cpu-throttle default)
};

// kInvalidArgument unless initial and step are 1..99, max is 1..99 and initial <= max; the
// message names the command-line option to change.
Status CheckThrottleOptions(const ThrottleOptions& o);

class ThrottlePolicy {
 public:
  // `o` should pass CheckThrottleOptions; out-of-range values are clamped (max to 1..99, initial
  // to 1..max, step to 1..99) rather than trusted.
  explicit ThrottlePolicy(ThrottleOptions o);

  // After each pre-copy round: `dirtied_bytes`, the bytes of the pages the guest dirtied while
  // the round ran (what the next round must send), and `sent_bytes`, what the round sent. A round
  // is "hot" when dirtied_bytes > sent_bytes / 2. Unthrottled, the second hot round in a row
  // raises the throttle to initial_percent; throttled, every hot round raises it to
  // max(percent + step_percent, 100 - (100 - percent) / 2), at most max_percent. A calm round
  // resets the count. Returns the throttle to apply now (0 until the first rise).
  uint32_t AfterRound(uint64_t dirtied_bytes, uint64_t sent_bytes);

  uint32_t percent() const { return percent_; }
  // How many times the throttle rose (a hot pair at max_percent does not count).
  uint32_t steps() const { return steps_; }

 private:
  ThrottleOptions options_;
  uint32_t percent_ = 0;
  uint32_t steps_ = 0;
  uint32_t hot_rounds_ = 0;  // hot rounds in a row since the last rise
};

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_THROTTLE_POLICY_H_
