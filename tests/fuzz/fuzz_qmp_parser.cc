// Fuzz target for the QMP message parser (qemu-config/qmp/message.h, message_reader.h) and the
// query decoders (queries.h): bytes as QEMU's monitor socket could send them. No input may crash
// them or make nlohmann throw; a refusal is kCorrupt with a message; whatever ParseMessage
// accepts survives EncodeMessage -> ParseMessage unchanged; and MessageReader yields the same
// results whether the bytes arrive in one read or in pieces of any size (the piece size comes
// from the input's first byte).
//
// The QMP parser sources are compiled into this target (fuzz_extra_sources in
// tests/fuzz/meson.build), which gives them the fuzzer's coverage instrumentation. Seeds in corpus/qmp_parser/ are committed files (QEMU 7.2.22
// transcripts captured on this machine, plus broken variants), not written by make_corpus.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/check.h"
#include "qemu-config/qmp/message.h"
#include "qemu-config/qmp/message_reader.h"
#include "qemu-config/qmp/queries.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using mkd::qmp::Message;

struct Outcome {
  std::optional<Message> message;  // or, when empty, an error:
  mkd::ErrorCode code = mkd::ErrorCode::kOk;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

void CheckMessage(const Message& m) {
  const std::string encoded = mkd::qmp::EncodeMessage(m);
  MKD_CHECK(encoded.ends_with("\r\n"));
  mkd::Result<Message> again = mkd::qmp::ParseMessage(encoded);
  MKD_CHECK(again.ok());
  MKD_CHECK(*again == m);
  if (const auto* r = std::get_if<mkd::qmp::ReturnReply>(&m)) {
    mkd::Result<mkd::qmp::VmStatus> status = mkd::qmp::DecodeVmStatus(r->value);
    if (!status.ok()) mkd::fuzz::CheckRejection(status.status());
    mkd::Result<mkd::qmp::MigrationInfo> migration = mkd::qmp::DecodeMigrationInfo(r->value);
    if (!migration.ok()) mkd::fuzz::CheckRejection(migration.status());
    mkd::Result<std::vector<mkd::qmp::VcpuInfo>> vcpus = mkd::qmp::DecodeVcpus(r->value);
    if (vcpus.ok()) {
      MKD_CHECK(!vcpus->empty() && vcpus->size() <= mkd::qmp::kMaxVcpus);
      for (const mkd::qmp::VcpuInfo& v : *vcpus) MKD_CHECK(v.cpu_index >= 0 && v.thread_id > 0);
    } else {
      mkd::fuzz::CheckRejection(vcpus.status());
    }
  }
}

// A line cap small enough for the fuzzer to reach, large enough for QEMU's query-migrate.
constexpr size_t kLineCap = 1024;

// Every result of a reader fed `input` in pieces of `piece` bytes, draining after each.
std::vector<Outcome> ReadAll(std::string_view input, size_t piece) {
  mkd::qmp::MessageReader reader(
      {.max_message_bytes = kLineCap, .max_buffered_bytes = input.size() + 1});
  std::vector<Outcome> out;
  while (!reader.failed()) {
    const std::string_view chunk = input.substr(0, piece);
    input.remove_prefix(chunk.size());
    MKD_CHECK(reader.Feed(chunk).ok());  // never more than the whole input is buffered
    while (std::optional<mkd::Result<Message>> next = reader.Next()) {
      if (next->ok()) {
        out.push_back({std::move(**next), mkd::ErrorCode::kOk, ""});
      } else {
        mkd::fuzz::CheckRejection(next->status());
        out.push_back({std::nullopt, next->status().code(), next->status().message()});
      }
    }
    if (input.empty()) break;
  }
  MKD_CHECK(reader.buffered_bytes() <= kLineCap || reader.failed());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = mkd::fuzz::AsBytes(data, size);

  mkd::Result<Message> whole = mkd::qmp::ParseMessage(input);
  if (whole.ok()) {
    CheckMessage(*whole);
  } else {
    mkd::fuzz::CheckRejection(whole.status());
  }

  const std::vector<Outcome> at_once = ReadAll(input, input.size() + 1);
  for (const Outcome& o : at_once) {
    if (o.message) CheckMessage(*o.message);
  }
  const size_t piece = input.empty() ? 1 : static_cast<uint8_t>(input[0]) % 17 + 1;
  MKD_CHECK(ReadAll(input, piece) == at_once);
  return 0;
}
