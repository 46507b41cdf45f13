// Generation table codec: the envelope (envelope.h) around run blocks of uint32 (run_blocks.h).
#include "genstore/table_codec.h"

#include "genstore/envelope.h"
#include "genstore/run_blocks.h"

namespace mkd {
namespace {
constexpr std::string_view kTableMagic = "MKDT";
constexpr size_t kTableBlockPages = 4096;
constexpr std::string_view kWhat = "generation table";
}  // namespace

std::string EncodeTable(const CodecHeader& header, const GenerationTable& table) {
  CodecHeader h = header;
  h.pages = table.pages();
  std::string out;
  out.reserve(64 + h.block.size() + table.pages() * sizeof(Generation) +
              table.pages() / kTableBlockPages + 1);
  size_t body = internal::BeginEnvelope(kTableMagic, h, &out);
  internal::EncodeRunBlocks<Generation, kTableBlockPages>(table.generations(), &out);
  internal::FinishEnvelope(body, &out);
  return out;
}

Result<DecodedTable> DecodeTable(std::string_view bytes) {
  Result<internal::EnvelopeView> env = internal::OpenEnvelope(bytes, kTableMagic, kWhat);
  if (!env.ok()) return env.status();
  MKD_RETURN_IF_ERROR((internal::CheckBodyCanHold<Generation, kTableBlockPages>(
      env->body.size(), env->header.pages, kWhat)));
  std::vector<Generation> gens(env->header.pages);
  MKD_RETURN_IF_ERROR((internal::DecodeRunBlocks<Generation, kTableBlockPages>(
      env->body, std::span<Generation>(gens), kWhat)));
  return DecodedTable{env->header, GenerationTable::FromGenerations(std::move(gens))};
}

}  // namespace mkd
