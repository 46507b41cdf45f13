// The destination's side of `mkd-migrate plan` (plan.h): the answer to a PLAN frame, what a
// migration of that VM to this host would start from. The same checks as an arrival's first
// steps (the host's definition of the VM, its size, the VM not running here), then the table the
// arrival would hand the source: the stored incarnation's when it is of the source's lineage and
// memfs would admit the arrival (memfs/reuse_rule.h), else a table of a new, empty file. Then the
// source may offer pages by content (OFFER) as a migration's first pass would; each OFFER is
// answered with the NEED an arrival would send, from the same lookups (reading this host's pages
// and checking their digests), but nothing is copied. Nothing is prepared, registered or started:
// RAM files are only read. Touches memfs and QEMU only through the ports (incoming_ports.h).
// Thread-compatible.
#ifndef MKD_MIGRATE_TOOL_PLAN_ANSWER_H_
#define MKD_MIGRATE_TOOL_PLAN_ANSWER_H_

#include <string>

#include "base/status.h"
#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

struct PlanAnswer {
  qemuconfig::VmDefinition def;  // this host's definition of the VM
  std::string table;        // the encoded generation table the arrival would send (TABLE's blob)
  std::string message;      // why: which incarnation here, reused or not
  bool own_memory = false;  // the arrival would keep the VM's stored memory here (its base)
};

// An error (with the operator's message) when a migration here would be refused: no definition,
// another size, the VM runs or arrives here, this host holds a newer epoch of it.
Result<PlanAnswer> DecidePlan(const Hello& hello, IncomingHost& host);

// Sends TABLE and RESULT(ok, message), or RESULT(not ok, why) when DecidePlan refused. After an
// ok, answers the source's OFFERs (AnswerPlanOffers) until it closes the connection.
void AnswerPlan(const Hello& hello, IncomingLink& link, IncomingHost& host);

// What AnswerPlanOffers answered.
struct PlanOffersAnswered {
  uint64_t offers = 0;   // OFFER frames
  uint64_t offered = 0;  // pages in them
  uint64_t found = 0;    // of those, pages this host holds with that content
};

// Answers each OFFER of a plan with a NEED of the pages `content` does not find, until the link
// ends (the source closed it: the normal end, or its timeout). A frame other than OFFER, a bad
// OFFER, or more pages offered in all than the VM has (`pages`: no first pass offers a page
// twice) ends it with an error; the counts so far are in *answered either way.
Status AnswerPlanOffers(IncomingLink& link, IncomingContent& content, uint64_t pages,
                        PlanOffersAnswered* answered);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_PLAN_ANSWER_H_
