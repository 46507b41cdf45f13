// Encoding and strict parsing of receive frames (see receive_frame.h).
#include "memfs-protocol/receive_frame.h"

#include <bit>
#include <cstring>
#include <limits>

namespace mkd::memfs_protocol {
namespace {

static_assert(std::endian::native == std::endian::little,
              "frames are little-endian and read with memcpy");

constexpr char kMagic[4] = {'M', 'K', 'D', 'R'};

Status Bad(const std::string& why) {
  return Status::InvalidArgument("user.mkd.receive: " + why +
                                 " (the frame layout is in docs/formats.md, \"Receive frame\")");
}

template <typename T>
void Append(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

template <typename T>
T Load(std::string_view bytes, size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

}  // namespace

std::string EncodeReceiveFrame(ReceiveKind kind, uint64_t first, uint32_t count, Generation gen,
                               std::string_view data) {
  std::string out;
  out.reserve(kReceiveHeaderSize + data.size());
  out.append(kMagic, sizeof(kMagic));
  Append<uint8_t>(&out, kReceiveFrameVersion);
  Append<uint8_t>(&out, static_cast<uint8_t>(kind));
  Append<uint16_t>(&out, 0);
  Append<uint64_t>(&out, first);
  Append<uint32_t>(&out, count);
  Append<uint32_t>(&out, gen);
  out.append(data);
  return out;
}

namespace {

// The 16-byte run records of kinds 2 and 3.
void AppendRuns(std::string* out, const std::vector<LaterRun>& runs) {
  for (const LaterRun& r : runs) {
    Append<uint64_t>(out, r.first);
    Append<uint32_t>(out, r.count);
    Append<uint32_t>(out, r.gen);
  }
}

}  // namespace

std::string EncodeLaterFrame(const std::vector<LaterRun>& runs) {
  std::string data;
  data.reserve(runs.size() * kLaterRunSize);
  AppendRuns(&data, runs);
  return EncodeReceiveFrame(ReceiveKind::kLater, 0, static_cast<uint32_t>(runs.size()), 0, data);
}

std::string EncodeRunsFrame(const std::vector<LaterRun>& runs, std::string_view data) {
  std::string body;
  body.reserve(runs.size() * kLaterRunSize + data.size());
  AppendRuns(&body, runs);
  body.append(data);
  return EncodeReceiveFrame(ReceiveKind::kRuns, 0, static_cast<uint32_t>(runs.size()), 0, body);
}

namespace {

// Reads `count` run records after the header into f->runs: each 1..max_pages pages, a generation
// neither 0 nor invalid, not overflowing. `what` names them in errors ("run", "later run").
Status ParseRunRecords(std::string_view bytes, uint32_t count, uint32_t max_pages,
                       const std::string& what, ReceiveFrame* f) {
  f->runs.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = kReceiveHeaderSize + size_t{i} * kLaterRunSize;
    LaterRun r{Load<uint64_t>(bytes, at), Load<uint32_t>(bytes, at + 8),
               Load<uint32_t>(bytes, at + 12)};
    const std::string which = what + " " + std::to_string(i) + ": ";
    if (r.count == 0 || r.count > max_pages) return Bad(which + "bad page count");
    if (r.gen == kGenInvalid || r.gen == kGenNeverWritten) {
      return Bad(which + "generation 0 or 0xFFFFFFFF is not allowed");
    }
    if (r.first > std::numeric_limits<uint64_t>::max() - r.count) return Bad(which + "overflows");
    f->runs.push_back(r);
  }
  return Status::Ok();
}

Result<ReceiveFrame> ParseRuns(std::string_view bytes, uint64_t first, uint32_t count,
                               Generation gen) {
  if (first != 0 || gen != 0) return Bad("runs: first page and generation must be 0");
  if (count == 0 || count > kMaxReceivePages) {
    return Bad("runs: run count " + std::to_string(count) + " is not in 1..15");
  }
  const size_t table = kReceiveHeaderSize + size_t{count} * kLaterRunSize;
  if (bytes.size() < table) {
    return Bad(std::to_string(bytes.size()) + " bytes, fewer than the " + std::to_string(count) +
               " runs need");
  }
  ReceiveFrame f{ReceiveKind::kRuns, 0, count, 0, {}, {}};
  MKD_RETURN_IF_ERROR(ParseRunRecords(bytes, count, kMaxReceivePages, "run", &f));
  uint64_t pages = 0;
  for (const LaterRun& r : f.runs) pages += r.count;
  if (pages > kMaxReceivePages) {
    return Bad("runs: " + std::to_string(pages) + " pages in all, more than 15");
  }
  if (bytes.size() != table + pages * kPageSize) {
    return Bad(std::to_string(bytes.size()) + " bytes, expected exactly " +
               std::to_string(table + pages * kPageSize) + " for " + std::to_string(count) +
               " runs of " + std::to_string(pages) + " pages");
  }
  f.data = bytes.substr(table);
  return f;
}

Result<ReceiveFrame> ParseLaterRuns(std::string_view bytes, uint64_t first, uint32_t count,
                                    Generation gen) {
  if (first != 0 || gen != 0) return Bad("later runs: first page and generation must be 0");
  if (count == 0 || count > kMaxLaterRuns) {
    return Bad("later runs: run count " + std::to_string(count) + " is not in 1..4094");
  }
  if (bytes.size() != kReceiveHeaderSize + size_t{count} * kLaterRunSize) {
    return Bad(std::to_string(bytes.size()) + " bytes, expected exactly " +
               std::to_string(kReceiveHeaderSize + size_t{count} * kLaterRunSize) + " for " +
               std::to_string(count) + " later runs");
  }
  ReceiveFrame f{ReceiveKind::kLater, 0, count, 0, bytes.substr(kReceiveHeaderSize), {}};
  MKD_RETURN_IF_ERROR(ParseRunRecords(bytes, count, kMaxReceiveZeroPages, "later run", &f));
  return f;
}

}  // namespace

Result<ReceiveFrame> ParseReceiveFrame(std::string_view bytes) {
  if (bytes.size() < kReceiveHeaderSize) {
    return Bad("truncated: " + std::to_string(bytes.size()) + " bytes, the header alone is 24");
  }
  if (bytes.size() > kMaxReceiveFrameSize) {
    return Bad(std::to_string(bytes.size()) + " bytes, more than one xattr value (65536)");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Bad("bad magic (expected \"MKDR\")");
  }
  const auto version = Load<uint8_t>(bytes, 4);
  if (version != kReceiveFrameVersion) {
    return Bad("version " + std::to_string(version) + " is not supported (expected 1)");
  }
  const auto kind_byte = Load<uint8_t>(bytes, 5);
  if (kind_byte > static_cast<uint8_t>(ReceiveKind::kRuns)) {
    return Bad("kind " + std::to_string(kind_byte) +
               " is unknown (0 pages, 1 zero pages, 2 later pages, 3 runs of pages)");
  }
  const auto kind = static_cast<ReceiveKind>(kind_byte);
  if (Load<uint16_t>(bytes, 6) != 0) return Bad("reserved field is not 0");
  const auto first = Load<uint64_t>(bytes, 8);
  const auto count = Load<uint32_t>(bytes, 16);
  const auto gen = Load<uint32_t>(bytes, 20);
  if (kind == ReceiveKind::kLater) return ParseLaterRuns(bytes, first, count, gen);
  if (kind == ReceiveKind::kRuns) return ParseRuns(bytes, first, count, gen);
  const uint32_t max_count = kind == ReceiveKind::kPages ? kMaxReceivePages : kMaxReceiveZeroPages;
  if (count == 0 || count > max_count) {
    return Bad("page count " + std::to_string(count) + " is not in 1.." +
               std::to_string(max_count));
  }
  if (gen == kGenInvalid) return Bad("generation 0xFFFFFFFF (invalid) cannot be received");
  if (gen == kGenNeverWritten && kind == ReceiveKind::kPages) {
    return Bad("generation 0 (never written) is only for zero pages (kind 1)");
  }
  if (first > std::numeric_limits<uint64_t>::max() - count) {
    return Bad("first page " + std::to_string(first) + " + count overflows");
  }
  const size_t data_size = kind == ReceiveKind::kPages ? size_t{count} * kPageSize : 0;
  if (bytes.size() != kReceiveHeaderSize + data_size) {
    return Bad(std::to_string(bytes.size()) + " bytes, expected exactly " +
               std::to_string(kReceiveHeaderSize + data_size) + " for " + std::to_string(count) +
               (kind == ReceiveKind::kPages ? " pages of content" : " pages without data"));
  }
  return ReceiveFrame{kind, first, count, gen, bytes.substr(kReceiveHeaderSize), {}};
}

}  // namespace mkd::memfs_protocol
