// ThrottlePolicy: when to slow a guest's vCPUs down during pre-copy, and by how much. The source
// feeds it each round's numbers and applies what it returns with VcpuThrottle (vcpu_throttle.h).
// The rule is QEMU's auto-converge: when, in two rounds in a row, the guest dirtied more than half
// of what the round sent, it is outrunning the link, so the throttle rises (to initial_percent the
// first time, then by step_percent, never above max_percent). It never falls during a migration.
// Pure arithmetic, no I/O; thread-compatible.
#ifndef MKD_MIGRATE_TOOL_THROTTLE_POLICY_H_
#define MKD_MIGRATE_TOOL_THROTTLE_POLICY_H_

#include <cstdint>

#include "base/status.h"

namespace mkd::migrate {

// Percentages of the vCPUs' time taken away (QEMU's cpu-throttle-initial, -increment, -max).
struct ThrottleOptions {
  uint32_t initial_percent = 20;  // --throttle-initial
  uint32_t step_percent = 10;     // --throttle-step
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
  // is "hot" when dirtied_bytes > sent_bytes / 2. The second hot round in a row raises the
  // throttle and starts the count again, so each further rise needs two more hot rounds in a row;
  // a calm round resets the count. Returns the throttle to apply now (0 until the first rise).
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
