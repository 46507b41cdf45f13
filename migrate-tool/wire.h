// Wire format of the host-to-host migration protocol (docs/formats.md, "Migration wire
// protocol"): the frames mkd-migrate (source) and `mkd-migrate serve` (destination) exchange
// over mutual TLS. Pure encoding and strict parsing; no I/O. Every parser here reads untrusted
// bytes from the network: it checks every length and field before use and is fuzzed
// (tests/fuzz/fuzz_decode_frame.cc). Ranges against a VM's size are checked by the caller, which
// knows the size (ParsePages takes it).
#ifndef MKD_MIGRATE_TOOL_WIRE_H_
#define MKD_MIGRATE_TOOL_WIRE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/uuid.h"
#include "genstore/generation.h"

namespace mkd::migrate {

inline constexpr char kWireMagic[4] = {'M', 'K', 'D', 'M'};
inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kFrameHeaderSize = 12;
// Largest payload accepted: a generation table of a 1 TiB block is 1 GiB in the worst case, but
// tables travel run-length encoded; 64 MiB bounds what one frame can make a host allocate.
inline constexpr uint32_t kMaxFramePayload = 64u << 20;
// Pages in one PAGES frame (1 MiB of content).
inline constexpr uint32_t kMaxPagesPerFrame = 256;
inline constexpr size_t kPagesHeaderSize = 20;
// The largest payload a source ever sends: a full PAGES frame (1 MiB + 20 bytes). Every other
// frame a source sends is smaller (STREAM_DATA 256 KiB, LATER 64 KiB, OFFER 56 KiB, JSON
// messages a few KiB).
// `serve --max-frame-bytes` defaults to it: the destination never buffers more per connection.
inline constexpr uint32_t kMaxSourceFramePayload =
    static_cast<uint32_t>(kPagesHeaderSize + kMaxPagesPerFrame * kPageSize);

enum class FrameType : uint8_t {
  kHello = 1,         // src -> dst, JSON: which VM, its epoch, lineage, blocks
  kTable = 2,         // dst -> src, binary: block index + the destination's encoded table
  kReady = 3,         // dst -> src, JSON: the destination waits for pages
  kPages = 4,         // src -> dst, binary: block, first page, count, generation, content
  kZeros = 5,         // src -> dst, binary: the same without content (pages read as zeros)
  kVerify = 6,        // src -> dst, empty: send your digests
  kDigests = 7,       // dst -> src, binary: block index + encoded digests
  kCommit = 8,        // src -> dst, empty: commit the incoming incarnation
  kAbort = 9,         // src -> dst, JSON: give up (reason)
  kResult = 10,       // dst -> src, JSON: ok or error with a message
  kWaitRunning = 11,  // src -> dst, empty: answer once the destination QEMU runs
  kStreamHello = 12,  // src -> dst on a second connection, JSON: QEMU's stream of this VM
  kStreamData = 13,   // src -> dst, bytes of QEMU's migration stream
  kStreamEnd = 14,    // src -> dst, empty: QEMU's stream ended
  // Post-copy (docs/postcopy.md):
  kLater = 15,         // src -> dst, as ZEROS: pages whose content follows the commit
  kWant = 16,          // dst -> src, binary: pages reads wait for (WantFrame)
  kPostcopyEnd = 17,   // src -> dst, empty: every missing page was sent
  kPostcopyDone = 18,  // dst -> src, JSON: every page is here (PostcopyDone)
  kDirty = 19,         // dst -> src, binary: block index + encoded bitmap of pages written since
  kStreamBack = 20,    // dst -> src on the stream's connection: bytes the destination QEMU wrote
                       // back on its migration socket (its return path, which libvirt enables)
  kPlan = 21,          // src -> dst, JSON as HELLO: what would a migration here reuse? Answered
                       // with TABLE and RESULT; nothing is prepared (mkd-migrate plan)
  kPagesZ = 22,        // src -> dst, as PAGES with the content one zstd frame (page_codec.h)
  // Reuse of pages by content:
  kOffer = 23,  // src -> dst, binary: pages by their content's digests, for the destination to
                // take from what its host holds (OfferFrame)
  kNeed = 24,   // dst -> src, binary: the answer to one OFFER, the pages still to send (NeedFrame)
};
std::string_view FrameTypeName(FrameType type);

struct FrameHeader {
  FrameType type = FrameType::kHello;
  uint32_t length = 0;  // payload bytes that follow
};
std::string EncodeFrameHeader(FrameType type, uint32_t length);
// Checks magic, version, a known type, reserved bytes zero and length <= kMaxFramePayload.
Result<FrameHeader> ParseFrameHeader(std::string_view bytes);
// A receiver's own bound on one frame (serve: --max-frame-bytes), checked after the header and
// before any payload is buffered. kInvalidArgument naming the frame, its claimed length, the
// limit and `peer` when header.length > max_payload.
Status CheckFrameLength(const FrameHeader& header, uint32_t max_payload, std::string_view peer);

// PAGES and ZEROS payloads.
struct PagesFrame {
  uint32_t block = 0;
  uint64_t first = 0;
  uint32_t count = 0;
  Generation gen = 0;
  std::string_view data;  // count * 4 KiB for PAGES, empty for ZEROS (points into the payload)
};
// The 20 bytes before the content; the caller appends count * 4 KiB for PAGES.
std::string EncodePagesHeader(uint32_t block, uint64_t first, uint32_t count, Generation gen);
// `block_pages` holds the page count of each block the session agreed on: the block index and
// the page range are checked against it. PAGES need 1..kMaxPagesPerFrame pages and a valid,
// non-zero generation; ZEROS any count >= 1 and a generation that is not invalid.
Result<PagesFrame> ParsePages(std::string_view payload, bool zeros,
                              const std::vector<uint64_t>& block_pages);
// PAGES_Z: the header of PAGES, checked the same way, then 1 .. count * 4 KiB bytes of
// compressed content, which `data` points at (page_codec.h's DecompressPages checks and expands
// it to exactly count * 4 KiB).
Result<PagesFrame> ParsePagesZ(std::string_view payload, const std::vector<uint64_t>& block_pages);

// OFFER payload: u32 block, u32 count (1..kMaxOfferPages), count entries of kOfferEntrySize bytes
// (u64 page, u32 generation neither 0 nor invalid, u32 reserved 0, u64 XXH3-64 and 32 bytes
// SHA-256 of the page's content), pages strictly increasing and inside the block. The source
// says "this is the content I would send for these pages": the destination takes each page from
// any page of its host with that content, and answers with one NEED naming the pages it could
// not take, which the source then sends as PAGES.
inline constexpr uint32_t kMaxOfferPages = 1024;
inline constexpr size_t kOfferEntrySize = 56;
static_assert(8 + kMaxOfferPages * kOfferEntrySize <= kMaxSourceFramePayload,
              "a full OFFER must fit the destination's default frame limit");
struct OfferEntry {
  uint64_t page = 0;
  Generation gen = 0;
  uint64_t digest = 0;               // XXH3-64 of the content
  std::array<uint8_t, 32> sha256{};  // SHA-256 of the content
  bool operator==(const OfferEntry&) const = default;
};
struct OfferFrame {
  uint32_t block = 0;
  std::vector<OfferEntry> entries;
};
// No checks: the caller sends 1..kMaxOfferPages entries in increasing page order.
std::string EncodeOffer(uint32_t block, const std::vector<OfferEntry>& entries);
// Checks the block index and the pages against `block_pages` (as ParsePages), the count, the
// exact length, the page order, the generations and the reserved bytes: kInvalidArgument naming
// OFFER and what is wrong.
Result<OfferFrame> ParseOffer(std::string_view payload, const std::vector<uint64_t>& block_pages);

// NEED payload: u32 block, u32 offered (the entries of the OFFER it answers, 1..kMaxOfferPages),
// u32 n (0..offered), n u64 pages, strictly increasing and inside the block. The destination
// answers every OFFER with exactly one NEED, in order; n = 0 when it took every page. Whether the
// pages are among those of the OFFER it answers (and `offered` its count) is for the caller to
// check: the parser does not know that OFFER.
struct NeedFrame {
  uint32_t block = 0;
  uint32_t offered = 0;
  std::vector<uint64_t> pages;
};
// No checks, as EncodeOffer.
std::string EncodeNeed(uint32_t block, uint32_t offered, const std::vector<uint64_t>& pages);
// kInvalidArgument naming NEED and what is wrong.
Result<NeedFrame> ParseNeed(std::string_view payload, const std::vector<uint64_t>& block_pages);

// LATER payload: u32 block, u32 n (1..kMaxLaterRuns), n runs of 16 bytes (u64 first page, u32
// pages >= 1, u32 generation neither 0 nor invalid), each inside the block: the pages whose
// content follows the commit (post-copy). One LATER frame fits one memfs receive frame.
inline constexpr uint32_t kMaxLaterRuns = 4094;
struct GenRun {
  uint64_t first = 0;
  uint32_t count = 0;
  Generation gen = 0;
  bool operator==(const GenRun&) const = default;
};
struct LaterFrame {
  uint32_t block = 0;
  std::vector<GenRun> runs;
};
std::string EncodeLater(uint32_t block, const std::vector<GenRun>& runs);
Result<LaterFrame> ParseLater(std::string_view payload, const std::vector<uint64_t>& block_pages);

// WANT payload: u32 block, u32 count, count * u64 page (1..kMaxWantPages, each in the block).
inline constexpr uint32_t kMaxWantPages = 1024;
struct WantFrame {
  uint32_t block = 0;
  std::vector<uint64_t> pages;
};
std::string EncodeWant(uint32_t block, const std::vector<uint64_t>& pages);
Result<WantFrame> ParseWant(std::string_view payload, const std::vector<uint64_t>& block_pages);

// POSTCOPY_DONE: the destination's post-copy statistics (memfs's user.mkd.postcopy).
struct PostcopyDone {
  uint64_t fetched = 0, pushed = 0, skipped = 0, faults = 0;
  double fault_median_ms = 0, fault_p99_ms = 0, fault_max_ms = 0;
  double seconds = 0;  // from the commit until the destination held every page
};
std::string EncodePostcopyDone(const PostcopyDone& done);
// Strict: exactly these fields, counts unsigned, times finite and >= 0.
Result<PostcopyDone> ParsePostcopyDone(std::string_view json);

// TABLE, DIGESTS and DIRTY payloads: a block index and an encoded blob (genstore formats, decoded
// and checked by their own fuzzed decoders).
struct BlobFrame {
  uint32_t block = 0;
  std::string_view blob;
};
std::string EncodeBlob(uint32_t block, std::string_view blob);
Result<BlobFrame> ParseBlob(std::string_view payload, size_t blocks);

// HELLO: the VM the source wants to send.
struct BlockInfo {
  std::string name;  // "ram"
  uint64_t pages = 0;
};
struct Hello {
  Uuid vm;
  Epoch epoch = 0;  // the VM's epoch on the source; the destination's will be epoch + 1
  Uuid lineage;
  std::vector<BlockInfo> blocks;
  std::string source_host;
  // Whether the source may send OFFERs (reuse by content): the destination indexes its pages by
  // content only then. On the wire only when false ("offers": false), so a HELLO of a source
  // that offers reads as before.
  bool offers = true;
};
std::string EncodeHello(const Hello& hello);
// Strict: an object with exactly these fields ("offers" optional, a boolean), a valid epoch below
// the maximum, a non-nil lineage, 1..64 blocks with distinct names valid for genstore
// (ValidateBlockName, the one rule for block names) and 1..2^28 pages.
Result<Hello> ParseHello(std::string_view json);

// How the destination spent its time receiving pages (the RESULT of a COMMIT carries it): frames
// of pages taken off the link, memfs receive writes made for them, seconds waited for the next
// frame and seconds spent writing pages into memfs.
struct ReceiveStats {
  uint64_t frames = 0, writes = 0;
  double wait_seconds = 0, write_seconds = 0;
  bool operator==(const ReceiveStats&) const = default;
};

// RESULT: the destination's answer.
struct ResultMsg {
  ResultMsg() = default;
  ResultMsg(bool ok_, std::string message_, std::optional<ReceiveStats> receive_ = std::nullopt)
      : ok(ok_), message(std::move(message_)), receive(receive_) {}
  bool ok = false;
  std::string message;
  std::optional<ReceiveStats> receive;  // only in the RESULT of a COMMIT
};
std::string EncodeResult(const ResultMsg& result);
// Strict: "ok" (bool), "message" (string) and optionally "receive" (exactly frames and writes,
// unsigned, wait_seconds and write_seconds, finite and >= 0).
Result<ResultMsg> ParseResult(std::string_view json);

// STREAM_HELLO: the VM whose QEMU stream follows on this connection, and the host sending it
// (serve checks it against the peer's certificate and the VM's control connection).
struct StreamHello {
  Uuid vm;
  std::string source_host;
};
std::string EncodeStreamHello(const StreamHello& hello);
// Strict: an object with exactly "vm" (a UUID) and "source_host" (1..253 characters).
Result<StreamHello> ParseStreamHello(std::string_view json);

// ABORT: why the source gives up.
std::string EncodeAbort(std::string_view reason);
Result<std::string> ParseAbort(std::string_view json);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_WIRE_H_
