// Incarnation metadata: what a host records about the memory one VM block has (or had) there
// (docs/architecture.md, "States"). Stored as a small JSON document (readable with ordinary tools,
// e.g. `mkd-genstore list`), beside the block's generation table in the per-host store (store.h).
// Value types and pure functions; thread-safe.
#ifndef MKD_GENSTORE_INCARNATION_H_
#define MKD_GENSTORE_INCARNATION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"

namespace mkd {

// The states of a RAM file (docs/architecture.md, "States").
enum class IncarnationState {
  kLive,      // a QEMU has it mapped; dirty tracking on
  kIncoming,  // receiving a migration; pages written are provisional
  kStored,    // the VM left; kept read-only for a later return
};
std::string_view IncarnationStateName(IncarnationState state);  // "live", "incoming", "stored"

// Which incarnation: a VM, one of its RAM blocks, and a per-host number that grows with each
// arrival of the VM on the host.
struct IncarnationKey {
  Uuid vm;
  std::string block;
  uint64_t incarnation = 0;
  bool operator==(const IncarnationKey&) const = default;
};

struct IncarnationMeta {
  IncarnationKey key;
  // Which life of the VM this memory belongs to: a random UUID chosen when the VM boots cold and
  // carried unchanged by every migration. A cold reboot restarts epochs at 1, so generations are
  // comparable only between incarnations of the same lineage. Never nil (the decoder and
  // Store::Put reject a nil lineage: it would make two unrelated lives look comparable).
  Uuid lineage;
  IncarnationState state = IncarnationState::kStored;
  Epoch epoch = 0;      // the VM's epoch when the table was last updated
  uint64_t pages = 0;   // size of the block in 4 KiB pages; equals the table's page count
  std::string host_id;  // the host that holds it
  int64_t updated_unix_ms = 0;
  // When the VM left this host and the incarnation became stored; 0 while live or incoming.
  // Eviction frees the least recently left incarnations first. Non-negative.
  int64_t left_unix_ms = 0;
  uint64_t serial = 0;  // bumped by every update of the record (for tools and tests)
  bool operator==(const IncarnationMeta&) const = default;
};

// Documents of at most this size are accepted by the decoder.
inline constexpr size_t kMaxIncarnationMetaSize = 4096;

// The document is format "mkd-incarnation" version 2 (docs/formats.md, "Incarnation metadata").
// Negative times are written as 0.
std::string EncodeIncarnationMeta(const IncarnationMeta& meta);
// Parses and checks a document: size cap, JSON syntax, format name and version (only 2; other
// versions are Unsupported), every field's presence, type and range (UUIDs, lineage not nil, block
// name, pages <= kMaxPages, epoch, state, host id, non-negative times). Errors are Corrupt.
Result<IncarnationMeta> DecodeIncarnationMeta(std::string_view json);

}  // namespace mkd

#endif  // MKD_GENSTORE_INCARNATION_H_
