// Named fault points: places in the migration where a test can make a failure happen on purpose,
// deterministically (the idea of RocksDB's sync points and CRIU's fault injection).
//
//   MKD_FAULT_POINTS="source.rounds=exit"  kill this process there (_exit(137), like kill -9)
//   MKD_FAULT_POINTS="serve.commit=error"  make the step fail with an injected error
//   MKD_FAULT_POINTS="source.pre_switchover=exec:kill -9 1234"  run a shell command there, wait
//                                          for it, then go on (kill a peer, cut a link, ...)
// Several points: separated by ";". Each point fires once. The names are listed in
// docs/migrate.md and tests/system/test_migrate_faults.py uses them.
//
// Compiled in only when the build option fault_points is on (test builds; it is on by default);
// otherwise Hit() is a constant Ok and the environment variable is ignored.
#ifndef MKD_MIGRATE_TOOL_FAULT_POINTS_H_
#define MKD_MIGRATE_TOOL_FAULT_POINTS_H_

#include <string_view>

#include "base/status.h"

namespace mkd::migrate {

// Fires the fault point `name` if the environment asks for it: returns an error Status for
// "error", never returns for "exit", runs the command for "exec:". Thread-safe.
Status FaultPoint(std::string_view name);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_FAULT_POINTS_H_
