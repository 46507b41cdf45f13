// The destination's side of `mkd-migrate plan` (plan.h): the answer to a PLAN frame, what a
// migration of that VM to this host would start from. The same checks as an arrival's first
// steps (the host's definition of the VM, its size, the VM not running here), then the table the
// arrival would hand the source: the stored incarnation's when it is of the source's lineage and
// memfs would admit the arrival (memfs/reuse_rule.h), else a table of a new, empty file. Nothing
// is prepared, registered or started: the RAM file is only read (summary and table xattrs).
// Touches memfs and QEMU only through the ports (incoming_ports.h). Thread-compatible.
#ifndef MKD_MIGRATE_TOOL_PLAN_ANSWER_H_
#define MKD_MIGRATE_TOOL_PLAN_ANSWER_H_

#include <string>

#include "base/status.h"
#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

struct PlanAnswer {
  std::string table;    // the encoded generation table the arrival would send (TABLE's blob)
  std::string message;  // why: which incarnation here, reused or not
};

// An error (with the operator's message) when a migration here would be refused: no definition,
// another size, the VM runs or arrives here, this host holds a newer epoch of it.
Result<PlanAnswer> DecidePlan(const Hello& hello, IncomingHost& host);

// Sends TABLE and RESULT(ok, message), or RESULT(not ok, why) when DecidePlan refused.
void AnswerPlan(const Hello& hello, IncomingLink& link, IncomingHost& host);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_PLAN_ANSWER_H_
