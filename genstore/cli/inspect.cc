// `mkd-genstore list` and `mkd-genstore decode`: read-only views of a host's store and of encoded
// tables, bitmaps, page digests and chunks. Everything read is checked by the genstore decoders
// first.
#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "genstore/bitmap_codec.h"
#include "genstore/chunking.h"
#include "genstore/cli/commands.h"
#include "genstore/cli/format.h"
#include "genstore/digests.h"
#include "genstore/store.h"
#include "genstore/table_codec.h"

namespace mkd::cli {
namespace {

int Fail(std::string_view command, const Status& s) {
  fmt::print(stderr, "mkd-genstore {}: {}\n", command, s.ToString());
  return 1;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string GenerationName(Generation g) {
  if (g == kGenNeverWritten) return "0 (never written)";
  if (g == kGenInvalid) return "invalid";
  return std::to_string(g);
}

void PrintHeader(std::string_view kind, const CodecHeader& h, size_t encoded_size) {
  fmt::print("{}\n  vm      {}\n  block   {}\n  epoch   {}\n  pages   {} ({})\n  encoded {}\n",
             kind, h.vm.ToString(), h.block, h.epoch, Thousands(h.pages),
             Bytes(h.pages * kPageSize), Bytes(encoded_size));
}

std::string HeaderJson(std::string_view kind, const CodecHeader& h) {
  return fmt::format(R"("kind":"{}","vm":"{}","block":"{}","epoch":{},"pages":{})", kind,
                     h.vm.ToString(), h.block, h.epoch, h.pages);
}

int DecodeBlobJson(const std::string& bytes) {
  std::string_view magic = std::string_view(bytes).substr(0, 4);
  std::string out;
  if (magic == "MKDT") {
    Result<DecodedTable> t = DecodeTable(bytes);
    if (!t.ok()) return Fail("decode", t.status());
    out = "{" + HeaderJson("table", t->header) + ",\"runs\":[";
    std::span<const Generation> g = t->table.generations();
    for (size_t i = 0; i < g.size();) {
      size_t j = i + 1;
      while (j < g.size() && g[j] == g[i]) ++j;
      out += fmt::format("{}[{},{},{}]", i ? "," : "", i, j - i, g[i]);
      i = j;
    }
  } else if (magic == "MKDB") {
    Result<DecodedBitmap> b = DecodeBitmap(bytes);
    if (!b.ok()) return Fail("decode", b.status());
    out = "{" + HeaderJson("bitmap", b->header) + ",\"runs\":[";
    bool first = true;
    b->bitmap.ForEachRun([&](uint64_t p, uint64_t n) {
      out += fmt::format("{}[{},{}]", first ? "" : ",", p, n);
      first = false;
    });
  } else if (magic == "MKDD") {
    CodecHeader h;
    Result<PageDigests> d = DecodePageDigests(bytes, &h);
    if (!d.ok()) return Fail("decode", d.status());
    const uint64_t zero = d->pages() - d->stored();
    fmt::print("{{{},\"zero_pages\":{}}}\n", HeaderJson("digests", h), zero);
    return 0;
  } else {
    return Fail("decode", Status::Corrupt("not a generation table, page bitmap or page digests"));
  }
  fmt::print("{}]}}\n", out);
  return 0;
}

int DecodeBlob(const std::string& bytes) {
  std::string_view magic = std::string_view(bytes).substr(0, 4);
  if (magic == "MKDT") {
    Result<DecodedTable> t = DecodeTable(bytes);
    if (!t.ok()) return Fail("decode", t.status());
    PrintHeader("generation table", t->header, bytes.size());
    std::map<Generation, uint64_t> histogram;
    for (Generation g : t->table.generations()) ++histogram[g];
    fmt::print("  pages by generation:\n");
    for (const auto& [g, n] : histogram) {
      fmt::print("    {:>20}  {:>12}\n", GenerationName(g), Thousands(n));
    }
    return 0;
  }
  if (magic == "MKDB") {
    Result<DecodedBitmap> b = DecodeBitmap(bytes);
    if (!b.ok()) return Fail("decode", b.status());
    PrintHeader("page bitmap", b->header, bytes.size());
    uint64_t runs = 0;
    b->bitmap.ForEachRun([&](uint64_t, uint64_t) { ++runs; });
    fmt::print("  set     {} pages in {} runs\n", Thousands(b->bitmap.Count()), Thousands(runs));
    return 0;
  }
  if (magic == "MKDD") {
    CodecHeader h;
    Result<PageDigests> d = DecodePageDigests(bytes, &h);
    if (!d.ok()) return Fail("decode", d.status());
    PrintHeader("page digests", h, bytes.size());
    const uint64_t zero = d->pages() - d->stored();
    fmt::print("  zero    {} pages have the digest of an all-zero page\n", Thousands(zero));
    return 0;
  }
  return Fail("decode",
              Status::Corrupt("not a generation table (MKDT), page bitmap (MKDB) or page digests "
                              "(MKDD)"));
}

}  // namespace

int RunList(const std::string& db_dir, const std::optional<std::string>& vm, bool json) {
  std::optional<Uuid> filter;
  if (vm) {
    Result<Uuid> u = Uuid::Parse(*vm);
    if (!u.ok()) return Fail("list", u.status());
    filter = *u;
  }
  Result<std::unique_ptr<Store>> store = Store::OpenReadOnly(db_dir);
  if (!store.ok()) return Fail("list", store.status());
  Result<std::vector<IncarnationMeta>> metas = (*store)->List(filter);
  if (!metas.ok()) return Fail("list", metas.status());
  if (json) {
    for (const auto& m : *metas) fmt::print("{}\n", EncodeIncarnationMeta(m));
    return 0;
  }
  fmt::print("host {}: {} incarnation(s)\n", (*store)->host_id(), metas->size());
  if (metas->empty()) return 0;
  fmt::print("{:<36}  {:<12} {:>5}  {:<8} {:>6} {:>12} {:>10}\n", "vm", "block", "inc", "state",
             "epoch", "pages", "size");
  for (const auto& m : *metas) {
    fmt::print("{:<36}  {:<12} {:>5}  {:<8} {:>6} {:>12} {:>10}\n", m.key.vm.ToString(),
               m.key.block, m.key.incarnation, IncarnationStateName(m.state), m.epoch,
               Thousands(m.pages), Bytes(m.pages * kPageSize));
  }
  return 0;
}

int RunDecode(const std::vector<std::string>& files, bool json) {
  std::vector<std::string> contents;
  for (const auto& f : files) {
    Result<std::string> bytes = ReadFile(f);
    if (!bytes.ok()) return Fail("decode", bytes.status());
    contents.push_back(std::move(*bytes));
  }
  if (contents.size() == 1 && std::string_view(contents[0]).substr(0, 4) != "MKDC") {
    return json ? DecodeBlobJson(contents[0]) : DecodeBlob(contents[0]);
  }
  Result<std::string> joined = JoinChunks(contents);
  if (!joined.ok()) return Fail("decode", joined.status());
  if (json) return DecodeBlobJson(*joined);
  fmt::print("{} chunk(s) joined: {}\n", contents.size(), Bytes(joined->size()));
  return DecodeBlob(*joined);
}

}  // namespace mkd::cli
