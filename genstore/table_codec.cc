// Generation table codec: the envelope (envelope.h) around run blocks of uint32 (run_blocks.h).
#include "genstore/table_codec.h"

#include "genstore/envelope.h"
#include "genstore/huge_pages.h"
#include "genstore/run_blocks.h"

namespace mkd {
namespace {
constexpr std::string_view kTableMagic = "MKDT";
constexpr size_t kTableBlockPages = 4096;
constexpr std::string_view kWhat = "generation table";
}  // namespace

std::string EncodeTable(const CodecHeader& header, const GenerationTable& table) {
  std::string out;
  EncodeTableTo(header, table, &out);
  return out;
}

void EncodeTableTo(const CodecHeader& header, const GenerationTable& table, std::string* out) {
  CodecHeader h = header;
  h.pages = table.pages();
  const size_t worst = 64 + h.block.size() + table.pages() * sizeof(Generation) +
                       table.pages() / kTableBlockPages + 1;
  if (out->capacity() < worst) {
    out->reserve(worst);
    internal::AdviseHugePages(out->data(), out->capacity());
  }
  internal::EnvelopeWriter envelope(kTableMagic, h, out);
  internal::EncodeRunBlocks<Generation, kTableBlockPages>(table.generations(), out,
                                                          [&] { envelope.HashAppended(); });
  envelope.Finish();
}

Result<DecodedTable> DecodeTable(std::string_view bytes) {
  DecodedTable out;
  MKD_RETURN_IF_ERROR(DecodeTableInto(bytes, &out));
  return out;
}

Status DecodeTableInto(std::string_view bytes, DecodedTable* out) {
  MKD_ASSIGN_OR_RETURN(internal::EnvelopeView env,
                       internal::OpenEnvelope(bytes, kTableMagic, kWhat));
  MKD_RETURN_IF_ERROR((internal::CheckBodyCanHold<Generation, kTableBlockPages>(
      env.body.size(), env.header.pages, kWhat)));
  std::span<Generation> gens = out->table.ResetForOverwrite(env.header.pages);
  MKD_RETURN_IF_ERROR(
      (internal::DecodeRunBlocks<Generation, kTableBlockPages>(env.body, gens, kWhat)));
  out->header = std::move(env.header);
  return Status::Ok();
}

}  // namespace mkd
