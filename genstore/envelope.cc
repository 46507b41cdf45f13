// Envelope writing and defensive parsing, shared by the table and bitmap codecs.
#include "genstore/envelope.h"

#include <xxhash.h>

#include "base/byte_io.h"
#include "base/check.h"

namespace mkd {

Status ValidateBlockName(std::string_view name) {
  if (name.empty() || name.size() > kMaxBlockNameLength) {
    return Status::InvalidArgument("block name must be 1 to 255 characters, got " +
                                   std::to_string(name.size()));
  }
  if (name == "." || name == "..") return Status::InvalidArgument("block name cannot be . or ..");
  for (char c : name) {
    if (!IsSafeNameChar(c)) {
      return Status::InvalidArgument(
          "block name may only use letters, digits, '.', '_' and '-' (it becomes a file name)");
    }
  }
  return Status::Ok();
}

namespace internal {
namespace {
// magic(4) version(2) flags(2) uuid(16) epoch(4) pages(8) name_len(1)
constexpr size_t kFixedHeader = 4 + 2 + 2 + 16 + 4 + 8 + 1;
constexpr size_t kChecksumSize = 8;
}  // namespace

EnvelopeWriter::EnvelopeWriter(std::string_view magic, const CodecHeader& header, std::string* out,
                               uint16_t version)
    : out_(out), state_(XXH3_createState()) {
  MKD_CHECK(magic.size() == 4);
  MKD_CHECK(ValidateBlockName(header.block).ok());
  MKD_CHECK(state_ != nullptr && XXH3_64bits_reset(state_) == XXH_OK);
  out->clear();
  out->append(magic);
  AppendLe<uint16_t>(out, version);
  AppendLe<uint16_t>(out, 0);  // flags
  out->append(reinterpret_cast<const char*>(header.vm.bytes.data()), header.vm.bytes.size());
  AppendLe<uint32_t>(out, header.epoch);
  AppendLe<uint64_t>(out, header.pages);
  out->push_back(static_cast<char>(header.block.size()));
  out->append(header.block);
}

EnvelopeWriter::~EnvelopeWriter() { XXH3_freeState(state_); }

void EnvelopeWriter::HashAppended() {
  XXH3_64bits_update(state_, out_->data() + hashed_, out_->size() - hashed_);
  hashed_ = out_->size();
}

void EnvelopeWriter::Finish() {
  HashAppended();
  AppendLe<uint64_t>(out_, XXH3_64bits_digest(state_));
}

Result<EnvelopeView> OpenEnvelope(std::string_view bytes, std::string_view magic,
                                  std::string_view what, uint16_t max_version) {
  const std::string w(what);
  if (bytes.size() < kFixedHeader + 1 + kChecksumSize) {
    return Status::Corrupt(w + ": " + std::to_string(bytes.size()) +
                           " bytes is too short to be one");
  }
  if (bytes.substr(0, 4) != magic) {
    return Status::Corrupt(w + ": wrong magic (this is not a " + w + ")");
  }
  ByteReader in(bytes.substr(0, bytes.size() - kChecksumSize));
  std::string_view skip;
  in.ReadBytes(4, &skip);
  uint16_t version = 0;
  uint16_t flags = 0;
  in.Read(&version);
  in.Read(&flags);
  if (version < 1 || version > max_version) {
    return Status::Unsupported(w + ": format version " + std::to_string(version) +
                               " (this build reads version" +
                               (max_version == 1 ? " 1" : "s 1 to " + std::to_string(max_version)) +
                               "; upgrade miyakodori on this host)");
  }
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - kChecksumSize, kChecksumSize);
  if (XXH3_64bits(bytes.data(), bytes.size() - kChecksumSize) != stored_sum) {
    return Status::Corrupt(w + ": checksum mismatch (damaged or truncated)");
  }
  if (flags != 0) return Status::Unsupported(w + ": unknown flags " + std::to_string(flags));

  EnvelopeView view;
  view.version = version;
  std::string_view uuid;
  in.ReadBytes(16, &uuid);
  std::memcpy(view.header.vm.bytes.data(), uuid.data(), 16);
  in.Read(&view.header.epoch);
  in.Read(&view.header.pages);
  if (view.header.pages > kMaxPages) {
    return Status::Corrupt(w + ": " + std::to_string(view.header.pages) +
                           " pages is more than the 1 TiB limit");
  }
  uint8_t name_len = 0;
  in.Read(&name_len);
  std::string_view name;
  if (!in.ReadBytes(name_len, &name)) return Status::Corrupt(w + ": block name truncated");
  view.header.block = std::string(name);
  Status name_ok = ValidateBlockName(name);
  if (!name_ok.ok()) return Status::Corrupt(w + ": " + name_ok.message());
  in.ReadBytes(in.remaining(), &view.body);
  return view;
}

}  // namespace internal
}  // namespace mkd
