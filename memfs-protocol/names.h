// The names of the `user.mkd.*` extended attributes of a mkd-memfs mount: the one list of them
// (docs/memfs.md says what each does, with real output). memfs answers them; mkd-migrate, the
// tests and operators (getfattr/setfattr) use them. Constants and pure helpers; thread-safe.
//
//   every node     user.mkd.summary         RAM file   user.mkd.table[.N]   user.mkd.dirty[.N]
//   RAM file       user.mkd.sync[.C]  user.mkd.take[.C]  user.mkd.synced[.C][.N]
//                  user.mkd.peer_table.N               user.mkd.reusable[.N]
//                  user.mkd.digests[.N]                user.mkd.receive
//                  user.mkd.wanted                     user.mkd.postcopy
//   VM directory   user.mkd.arrive  user.mkd.commit  user.mkd.abort  user.mkd.advance
//
// C is a dirty-log consumer name (memfs/dirty_log.h validates it), N a chunk index (decimal).
#ifndef MKD_MEMFS_PROTOCOL_NAMES_H_
#define MKD_MEMFS_PROTOCOL_NAMES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mkd::memfs_protocol {

inline constexpr std::string_view kPrefix = "user.mkd.";

// Every node.
inline constexpr std::string_view kSummary = "user.mkd.summary";
// RAM files. The chunked values (genstore/chunking.h): the base name describes them
// (FormatChunkDescription), "<base>.N" is chunk N.
inline constexpr std::string_view kTable = "user.mkd.table";
inline constexpr std::string_view kDirty = "user.mkd.dirty";
inline constexpr std::string_view kSynced = "user.mkd.synced";
inline constexpr std::string_view kReusable = "user.mkd.reusable";
inline constexpr std::string_view kDigests = "user.mkd.digests";
inline constexpr std::string_view kChunkedNames[] = {kTable, kDirty, kSynced, kReusable, kDigests};
inline constexpr std::string_view kSync = "user.mkd.sync";  // get: runs a sync (sync_reply.h)
// get: a sync without the write-back (the pages written back since the consumer's last sync)
inline constexpr std::string_view kTake = "user.mkd.take";
inline constexpr std::string_view kPeerTable = "user.mkd.peer_table";  // set: ".N" chunks only
inline constexpr std::string_view kReceive = "user.mkd.receive";       // receive_frame.h
inline constexpr std::string_view kWanted = "user.mkd.wanted";         // postcopy_values.h
inline constexpr std::string_view kPostcopy = "user.mkd.postcopy";     // postcopy_values.h
// VM directories.
inline constexpr std::string_view kArrive = "user.mkd.arrive";    // arrival.h
inline constexpr std::string_view kCommit = "user.mkd.commit";    // any value
inline constexpr std::string_view kAbort = "user.mkd.abort";      // any value
inline constexpr std::string_view kAdvance = "user.mkd.advance";  // arrival.h
// What clients set on user.mkd.commit and user.mkd.abort (memfs ignores the value).
inline constexpr std::string_view kTriggerValue = "1";

// "<base>.<index>": chunk `index` of a chunked value, or of the peer table.
std::string ChunkName(std::string_view base, uint64_t index);
// user.mkd.sync.<consumer> (user.mkd.sync when consumer is empty).
std::string SyncName(std::string_view consumer);
// user.mkd.synced.<consumer> (user.mkd.synced when consumer is empty).
std::string SyncedName(std::string_view consumer);
// user.mkd.take.<consumer> (user.mkd.take when consumer is empty).
std::string TakeName(std::string_view consumer);
// True for user.mkd.sync, user.mkd.take and either with ".<something>": getxattr names that take
// dirty-log pages (a sync, or a take: a sync without the write-back).
bool IsSyncName(std::string_view name);
// True for the take names among them (user.mkd.take[.C]).
bool IsTakeName(std::string_view name);
// The consumer of a sync or take name ("" for the plain names). Requires IsSyncName(name).
std::string_view SyncConsumer(std::string_view name);
// The N of a chunk suffix "N" (decimal digits only, fits 32 bits); nullopt for anything else.
std::optional<uint32_t> ParseChunkIndex(std::string_view digits);

// The value of a chunked value's base name: "chunks=C bytes=B (read <base>.0 .. <base>.<C-1>;
// join and decode with mkd-genstore decode)". C >= 1.
std::string FormatChunkDescription(std::string_view base, uint64_t chunks, uint64_t bytes);
// The chunk count C of such a description; nullopt unless the value starts with
// "chunks=<1..2^32-1> " (what the mount returns is untrusted).
std::optional<uint32_t> ParseChunkDescription(std::string_view value);

}  // namespace mkd::memfs_protocol

#endif  // MKD_MEMFS_PROTOCOL_NAMES_H_
