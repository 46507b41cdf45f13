// A model of one VM migrating between hosts, driven by genstore exactly as memfs and mkd-migrate
// will drive it (docs/architecture.md), with page content simulated by a version counter
// (0 = zero page). Used by the property test to check, after every comparison and every commit,
// that the generation rules never let a host reuse a page whose content differs from the VM's.
//
// Ordering invariants (docs/security.md) are checked too: a page is received with a generation
// below the arrival's epoch, and an arrival's epoch is above the epoch of what the destination
// stores of the VM. A third party syncs the dirty log at random moments (memfs::DirtyLog: its own
// view), which must never make the migration miss a page.
//
// Reuse by content is in the model too: some writes store contents from a small shared pool (an
// image's pages), every host runs a sibling holding such contents, and the first pass may take a
// page from any page of the destination (its stored incarnation, the sibling) whose content has
// the offer's finding digest (a deliberately colliding one: the content modulo 7) and whose
// content is the offer's (the SHA-256 check); its generation is the offer's.
//
// Faults can be injected to prove the checks have teeth: each one breaks one rule of the design
// and must be caught.
#ifndef MKD_TESTS_GENSTORE_MIGRATION_MODEL_H_
#define MKD_TESTS_GENSTORE_MIGRATION_MODEL_H_

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"

namespace mkd::testing {

enum class ModelFault {
  kNone,
  kAbortKeepsProvisional,  // an aborted migration commits its provisional pages instead
  kNoFinalSync,            // the pages dirtied after the last round are not synced at switchover
  kSameEpochOnArrival,     // the epoch is not incremented when the VM arrives on a host
  kFreeWithoutInvalidate,  // freeing a stored page does not invalidate its generation
  kSharedDirtyLog,         // the migration's syncs and a third party's share one dirty-log view
  kArrivalAtStoredEpoch,   // a VM arrives in the epoch its stored incarnation there already has
  kTrustFindingDigest,     // a page is taken by content on its finding digest alone (no SHA-256)
};

struct ModelOptions {
  uint64_t pages = 200;
  int hosts = 3;
  int migrations = 40;
  double abort_probability = 0.3;
  bool content = true;  // reuse by content in the first pass
  ModelFault fault = ModelFault::kNone;
};

struct ModelStats {
  uint64_t migrations_committed = 0;
  uint64_t migrations_aborted = 0;
  uint64_t pages_reused = 0;
  uint64_t pages_sent = 0;
  uint64_t pages_by_content = 0;
  uint64_t restarts = 0;
};

// Runs one random history from `seed`. Returns the first violated invariant, or nullopt.
std::optional<std::string> RunMigrationModel(const ModelOptions& options, uint64_t seed,
                                             ModelStats* stats);

}  // namespace mkd::testing

#endif  // MKD_TESTS_GENSTORE_MIGRATION_MODEL_H_
