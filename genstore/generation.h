// The vocabulary of generations (docs/architecture.md): page size, generation values and epochs.
// Header-only constants and small predicates; no state.
#ifndef MKD_GENSTORE_GENERATION_H_
#define MKD_GENSTORE_GENERATION_H_

#include <cstdint>

namespace mkd {

// Guest RAM is tracked in 4 KiB pages.
inline constexpr uint64_t kPageSize = 4096;

// The largest RAM block tracked: 1 TiB of 4 KiB pages. Sizes come from untrusted input (files,
// network, xattrs) and are checked against this cap before anything is allocated.
inline constexpr uint64_t kMaxPages = uint64_t{1} << 28;

// A page's generation: the epoch in which the VM last wrote it, or one of the two special values.
using Generation = uint32_t;
// An epoch: the VM's residency counter, 1 at first boot, +1 at every arrival on a host.
using Epoch = uint32_t;

// Never written since the VM was created: the page is zero everywhere and is never sent.
inline constexpr Generation kGenNeverWritten = 0;
// Freed or not trustworthy (e.g. a provisional page of an aborted migration): never reusable.
inline constexpr Generation kGenInvalid = 0xFFFFFFFFu;

inline constexpr Epoch kFirstEpoch = 1;
inline constexpr Epoch kMaxEpoch = 0xFFFFFFFEu;

// Epochs only move forward, in small steps (docs/security.md, ordering): a migration's source
// goes on in e + 2 (the destination runs in e + 1), so an advance is at most this far.
inline constexpr Epoch kMaxAdvanceStep = 2;
// An arrival or advance must leave this many epochs for the VM's next migrations (an arrival in
// E needs E + 1 at the next destination and E + 2 for the source to go on in).
inline constexpr Epoch kEpochHeadroom = 2;
// An epoch can be stored as a generation: neither 0 nor the invalid value.
constexpr bool IsValidEpoch(uint64_t e) { return e >= kFirstEpoch && e <= kMaxEpoch; }

}  // namespace mkd

#endif  // MKD_GENSTORE_GENERATION_H_
