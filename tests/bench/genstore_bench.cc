// genstore micro-benchmarks (Google Benchmark): the comparison, dirty application and codecs that
// run on every migration, each at 262,144 pages (a 1 GiB VM) and 16,777,216 pages (64 GiB).
//
// Run them with scripts/bench-genstore (release build, pinned to one core, 5 repetitions, a table
// of medians with ratios and targets). Two baselines run in the same binary so results can be read
// as ratios: BM_MemcpyTable (copying the raw pages*4 bytes) and BM_NaiveCompare (a plain scalar
// loop with ComputeReusable's semantics).
//
// Throughput (bytes_per_second, and the script's GB/s) always counts the RAW size of the object:
// pages*4 bytes for table cases, pages/8 bytes for bitmap cases, whatever the encoded size is.
// Time is the benchmark thread's CPU time (user + system, so page faults of per-call allocations
// count; time spent waiting for a busy CPU does not). faults_per_iter and sys_pct show how much
// of it the kernel took.
// Every case checks its result once outside the timed loop; a wrong result marks the case as an
// error and makes the binary exit 1, so neither a run nor the smoke test can time broken code.
//
// Inputs are generated deterministically (fixed seeds) on first use and cached for the process.
//
// The cases of reuse by content (issue 16; docs/decisions.md) run at 1 GiB only and count the
// pages' content as raw bytes (pages*4096): BM_MemcpyPages (their baseline: copying the pages),
// BM_PageDigests (the XXH3-64 of every page: what memfs computes when a VM leaves a host and an
// index build reads for a live VM), BM_PageSha256 (the SHA-256 the source computes for every page
// it offers and the destination for every candidate it reads), and BM_BuildIndex (sorting a
// mount's digests into the index; raw bytes pages*8; counter index_bytes_per_page).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/status.h"
#include "genstore/bitmap_codec.h"
#include "genstore/codec_header.h"
#include "genstore/compare.h"
#include "genstore/digests.h"
#include "genstore/generation.h"
#include "genstore/generation_table.h"
#include "genstore/page_bitmap.h"
#include "genstore/table_codec.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/content_index.h"

namespace mkd {
namespace {

constexpr int64_t kPages1GiB = int64_t{1} << 18;   // 262,144 pages
constexpr int64_t kPages64GiB = int64_t{1} << 24;  // 16,777,216 pages

using Rng = std::mt19937_64;

// Set when any case's result check fails; main() then exits 1.
bool g_check_failed = false;

// Marks the case as failed: shown in the report, and the binary exits 1.
void Fail(benchmark::State& state, const std::string& what) {
  g_check_failed = true;
  state.SkipWithError(what.c_str());
}

uint64_t Uniform(Rng& rng, uint64_t lo, uint64_t hi) {  // inclusive
  return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
}

// A bitmap with exactly round(fraction * pages) pages set, in runs of 1..max_run pages at random
// places (runs may touch or overlap; only newly set pages count towards the fraction).
PageBitmap RandomRuns(uint64_t pages, double fraction, uint64_t max_run, Rng& rng) {
  PageBitmap bits(pages);
  const auto target = static_cast<uint64_t>(fraction * static_cast<double>(pages));
  uint64_t set = 0;
  while (set < target) {
    uint64_t first = Uniform(rng, 0, pages - 1);
    uint64_t len = std::min(Uniform(rng, 1, max_run), pages - first);
    for (uint64_t p = first; p < first + len && set < target; ++p) {
      if (!bits.Test(p)) {
        bits.Set(p);
        ++set;
      }
    }
  }
  return bits;
}

void InvalidateRandomRanges(GenerationTable* table, double fraction, uint64_t max_run, Rng& rng) {
  const uint64_t pages = table->pages();
  const auto target = static_cast<uint64_t>(fraction * static_cast<double>(pages));
  for (uint64_t done = 0; done < target;) {
    uint64_t first = Uniform(rng, 0, pages - 1);
    uint64_t len = std::min(Uniform(rng, 1, max_run), pages - first);
    MKD_CHECK(table->Invalidate(first, len).ok());
    done += len;
  }
}

// Lazily built inputs, one per (type, pages, variant), kept for the whole process.
template <typename T>
std::map<std::pair<uint64_t, int>, std::unique_ptr<T>>& CacheOf() {
  static std::map<std::pair<uint64_t, int>, std::unique_ptr<T>> cache;
  return cache;
}

template <typename T, typename Make>
const T& Cached(uint64_t pages, int variant, Make make) {
  std::unique_ptr<T>& slot = CacheOf<T>()[{pages, variant}];
  if (!slot) slot = std::make_unique<T>(make());
  return *slot;
}

// ---- Inputs -------------------------------------------------------------------------------------

// A VM's table and the table of the incarnation it left on the destination, from one history:
// epoch 1 writes 85 % of RAM (boot and warm-up; the rest stays generation 0), epochs 2..6 write
// 10 % each in runs, 1 % is freed (invalid); the peer then invalidates another 0.5 % (an aborted
// migration) while the VM runs epoch 7, writing 10 %. About 90 % of pages end up equal.
struct CompareInput {
  GenerationTable vm;
  GenerationTable peer;
};

CompareInput MakeCompareInput(uint64_t pages) {
  Rng rng(0x6d6b6401);
  GenerationTable history(pages);
  MKD_CHECK(history.ApplyDirty(RandomRuns(pages, 0.85, 1024, rng), 1).ok());
  for (Epoch e = 2; e <= 6; ++e) {
    MKD_CHECK(history.ApplyDirty(RandomRuns(pages, 0.10, 256, rng), e).ok());
  }
  InvalidateRandomRanges(&history, 0.01, 64, rng);
  CompareInput in{history, history};
  InvalidateRandomRanges(&in.peer, 0.005, 64, rng);
  MKD_CHECK(in.vm.ApplyDirty(RandomRuns(pages, 0.10, 256, rng), 7).ok());
  return in;
}

enum TableShape : int { kMostlyEqual = 0, kRandom = 1 };

// kMostlyEqual: runs of 1,024..65,536 pages of generations 1..20, then one page in 64 (4,096 per
// GiB) changed to another generation. kRandom: random valid generations, each page different from
// its neighbour (no run longer than one page: the encoder's worst case).
GenerationTable MakeTable(uint64_t pages, TableShape shape) {
  Rng rng(0x6d6b6402 + static_cast<uint64_t>(shape));
  std::vector<Generation> gens(pages);
  if (shape == kMostlyEqual) {
    for (uint64_t p = 0; p < pages;) {
      uint64_t len = std::min(Uniform(rng, 1024, 65536), pages - p);
      std::fill_n(gens.begin() + static_cast<std::ptrdiff_t>(p), len,
                  static_cast<Generation>(Uniform(rng, 1, 20)));
      p += len;
    }
    for (uint64_t i = 0; i < pages / 64; ++i) {
      uint64_t p = Uniform(rng, 0, pages - 1);
      gens[p] = static_cast<Generation>(Uniform(rng, 21, 40));
    }
  } else {
    Generation prev = kGenNeverWritten;
    for (uint64_t p = 0; p < pages; ++p) {
      Generation g = prev;
      while (g == prev) g = static_cast<Generation>(Uniform(rng, kFirstEpoch, kMaxEpoch));
      gens[p] = prev = g;
    }
  }
  return GenerationTable::FromGenerations(std::move(gens));
}

enum DirtyShape : int { kSingles5 = 0, kRuns64x5 = 1, kSparse = 2 };

// kSingles5: 5 % of pages, random single pages. kRuns64x5: 5 % in runs of 64 pages at random
// (unaligned) places. kSparse: one page in 8,192 (32 per GiB).
PageBitmap MakeBitmap(uint64_t pages, DirtyShape shape) {
  Rng rng(0x6d6b6403 + static_cast<uint64_t>(shape));
  PageBitmap bits(pages);
  if (shape == kRuns64x5) {
    for (uint64_t i = 0; i < pages / 20 / 64; ++i) bits.SetRange(Uniform(rng, 0, pages - 64), 64);
    return bits;
  }
  const uint64_t target = shape == kSingles5 ? pages / 20 : pages / 8192;
  for (uint64_t set = 0; set < target;) {
    uint64_t p = Uniform(rng, 0, pages - 1);
    if (!bits.Test(p)) {
      bits.Set(p);
      ++set;
    }
  }
  return bits;
}

CodecHeader BenchHeader() {
  CodecHeader h;
  h.vm.bytes = {0x6d, 0x6b, 0x64, 0x62, 0x65, 0x6e, 0x63, 0x68, 1, 2, 3, 4, 5, 6, 7, 8};
  h.block = "ram";
  h.epoch = 7;
  return h;
}

// What the calling thread has used so far: minor page faults (fresh pages of large allocations,
// mostly) and user and system CPU time.
struct Usage {
  uint64_t minor_faults = 0;
  double user_s = 0;
  double sys_s = 0;
};

Usage ThreadUsage() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return {static_cast<uint64_t>(u.ru_minflt), secs(u.ru_utime), secs(u.ru_stime)};
}

// Reports throughput in raw bytes, and the page faults per iteration and the kernel's share of
// the CPU time since `before` (taken just before the timed loop).
void ReportRaw(benchmark::State& state, uint64_t pages, uint64_t raw_bytes, const Usage& before) {
  const Usage after = ThreadUsage();
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(raw_bytes));
  state.counters["pages"] = static_cast<double>(pages);
  state.counters["raw_bytes"] = static_cast<double>(raw_bytes);
  state.counters["faults_per_iter"] =
      static_cast<double>(after.minor_faults - before.minor_faults) /
      static_cast<double>(std::max<int64_t>(state.iterations(), 1));
  const double user = after.user_s - before.user_s;
  const double sys = after.sys_s - before.sys_s;
  state.counters["sys_pct"] = user + sys > 0 ? 100.0 * sys / (user + sys) : 0.0;
}

void SetEncodedSize(benchmark::State& state, uint64_t encoded, uint64_t raw) {
  state.counters["encoded_bytes"] = static_cast<double>(encoded);
  state.counters["encoded_pct"] = 100.0 * static_cast<double>(encoded) / static_cast<double>(raw);
}

uint64_t TableBytes(uint64_t pages) { return pages * sizeof(Generation); }
uint64_t BitmapBytes(uint64_t pages) { return PageBitmap::WordsFor(pages) * sizeof(uint64_t); }

// ---- Baselines ----------------------------------------------------------------------------------

// The naive reuse decision: one page at a time, same semantics as ComputeReusable (equal and
// neither 0 nor invalid), into a word bitmap cleared first.
void NaiveCompare(const Generation* a, const Generation* b, uint64_t pages, uint64_t* words) {
  std::memset(words, 0, PageBitmap::WordsFor(pages) * sizeof(uint64_t));
  for (uint64_t p = 0; p < pages; ++p) {
    bool reusable = a[p] == b[p] && a[p] != kGenNeverWritten && a[p] != kGenInvalid;
    words[p >> 6] |= static_cast<uint64_t>(reusable) << (p & 63);
  }
}

void BM_MemcpyTable(benchmark::State& state) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const CompareInput& in = Cached<CompareInput>(pages, 0, [&] { return MakeCompareInput(pages); });
  std::vector<Generation> dst(pages);
  const size_t bytes = TableBytes(pages);
  std::memcpy(dst.data(), in.vm.generations().data(), bytes);
  if (!std::equal(dst.begin(), dst.end(), in.vm.generations().begin())) {
    Fail(state, "memcpy copy differs");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    std::memcpy(dst.data(), in.vm.generations().data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, bytes, before);
}

void BM_NaiveCompare(benchmark::State& state) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const CompareInput& in = Cached<CompareInput>(pages, 0, [&] { return MakeCompareInput(pages); });
  PageBitmap naive(pages);
  PageBitmap fast(pages);
  NaiveCompare(in.vm.generations().data(), in.peer.generations().data(), pages,
               naive.mutable_words().data());
  (void)ComputeReusable(in.vm, in.peer, &fast);
  if (!(naive == fast)) {
    Fail(state, "naive compare disagrees with ComputeReusable");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    NaiveCompare(in.vm.generations().data(), in.peer.generations().data(), pages,
                 naive.mutable_words().data());
    benchmark::DoNotOptimize(naive.mutable_words().data());
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, TableBytes(pages), before);
}

// ---- genstore -----------------------------------------------------------------------------------

void BM_Compare(benchmark::State& state) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const CompareInput& in = Cached<CompareInput>(pages, 0, [&] { return MakeCompareInput(pages); });
  PageBitmap reusable(pages);
  // Reference: page by page, through the public accessors only.
  ReuseSummary want;
  PageBitmap want_bits(pages);
  for (uint64_t p = 0; p < pages; ++p) {
    Generation g = in.vm.Get(p);
    if (g == kGenNeverWritten) {
      ++want.zero;
    } else if (g != kGenInvalid && g == in.peer.Get(p)) {
      ++want.reusable;
      want_bits.Set(p);
    } else {
      ++want.to_send;
    }
  }
  ReuseSummary got = ComputeReusable(in.vm, in.peer, &reusable);
  if (!(got == want) || !(reusable == want_bits)) {
    Fail(state, "ComputeReusable disagrees with the page-by-page reference");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    ReuseSummary s = ComputeReusable(in.vm, in.peer, &reusable);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, TableBytes(pages), before);
  const auto pct = [&](uint64_t n) {
    return 100.0 * static_cast<double>(n) / static_cast<double>(pages);
  };
  state.counters["reusable_pct"] = pct(want.reusable);
  state.counters["zero_pct"] = pct(want.zero);
  state.counters["send_pct"] = pct(want.to_send);
}

void BM_ApplyDirty(benchmark::State& state, DirtyShape shape) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const CompareInput& in = Cached<CompareInput>(pages, 0, [&] { return MakeCompareInput(pages); });
  const PageBitmap& dirty =
      Cached<PageBitmap>(pages, shape, [&] { return MakeBitmap(pages, shape); });
  constexpr Epoch kEpoch = 8;
  // Applying the same set again writes the same values, so one table serves every iteration.
  GenerationTable table = in.vm;
  if (!table.ApplyDirty(dirty, kEpoch).ok()) {
    Fail(state, "ApplyDirty failed");
    return;
  }
  for (uint64_t p = 0; p < pages; ++p) {
    if (table.Get(p) != (dirty.Test(p) ? kEpoch : in.vm.Get(p))) {
      Fail(state, "ApplyDirty set page " + std::to_string(p) + " wrongly");
      return;
    }
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    Status s = table.ApplyDirty(dirty, kEpoch);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, TableBytes(pages), before);
  state.counters["dirty_pct"] =
      100.0 * static_cast<double>(dirty.Count()) / static_cast<double>(pages);
}

void BM_EncodeTable(benchmark::State& state, TableShape shape) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const GenerationTable& table =
      Cached<GenerationTable>(pages, shape, [&] { return MakeTable(pages, shape); });
  const CodecHeader header = BenchHeader();
  std::string encoded = EncodeTable(header, table);
  Result<DecodedTable> round_trip = DecodeTable(encoded);
  if (!round_trip.ok() || !(round_trip->table == table)) {
    Fail(state, "EncodeTable output does not decode to the table");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    std::string out = EncodeTable(header, table);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, TableBytes(pages), before);
  SetEncodedSize(state, encoded.size(), TableBytes(pages));
}

void BM_DecodeTable(benchmark::State& state, TableShape shape) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const GenerationTable& table =
      Cached<GenerationTable>(pages, shape, [&] { return MakeTable(pages, shape); });
  const std::string& encoded =
      Cached<std::string>(pages, shape, [&] { return EncodeTable(BenchHeader(), table); });
  Result<DecodedTable> first = DecodeTable(encoded);
  if (!first.ok() || !(first->table == table) || !(first->header.block == "ram")) {
    Fail(state, "DecodeTable did not return the encoded table");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    Result<DecodedTable> decoded = DecodeTable(encoded);
    benchmark::DoNotOptimize(decoded);
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, TableBytes(pages), before);
  SetEncodedSize(state, encoded.size(), TableBytes(pages));
}

// The steady state of a daemon that re-encodes a table into one buffer it keeps (EncodeTableTo),
// so the output's pages are not faulted in afresh on every call.
void BM_EncodeTableTo(benchmark::State& state, TableShape shape) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const GenerationTable& table =
      Cached<GenerationTable>(pages, shape, [&] { return MakeTable(pages, shape); });
  const CodecHeader header = BenchHeader();
  std::string out;
  EncodeTableTo(header, table, &out);
  if (out != EncodeTable(header, table)) {
    Fail(state, "EncodeTableTo output differs from EncodeTable");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    EncodeTableTo(header, table, &out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, TableBytes(pages), before);
  SetEncodedSize(state, out.size(), TableBytes(pages));
}

// Decoding into a table whose storage is reused (DecodeTableInto).
void BM_DecodeTableInto(benchmark::State& state, TableShape shape) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const GenerationTable& table =
      Cached<GenerationTable>(pages, shape, [&] { return MakeTable(pages, shape); });
  const std::string& encoded =
      Cached<std::string>(pages, shape, [&] { return EncodeTable(BenchHeader(), table); });
  DecodedTable decoded;
  if (!DecodeTableInto(encoded, &decoded).ok() || !(decoded.table == table)) {
    Fail(state, "DecodeTableInto did not return the encoded table");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    Status s = DecodeTableInto(encoded, &decoded);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(decoded.table.generations().data());
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, TableBytes(pages), before);
  SetEncodedSize(state, encoded.size(), TableBytes(pages));
}

void BM_EncodeBitmap(benchmark::State& state, DirtyShape shape) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const PageBitmap& bitmap =
      Cached<PageBitmap>(pages, shape, [&] { return MakeBitmap(pages, shape); });
  const CodecHeader header = BenchHeader();
  std::string encoded = EncodeBitmap(header, bitmap);
  Result<DecodedBitmap> round_trip = DecodeBitmap(encoded);
  if (!round_trip.ok() || !(round_trip->bitmap == bitmap)) {
    Fail(state, "EncodeBitmap output does not decode to the bitmap");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    std::string out = EncodeBitmap(header, bitmap);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, BitmapBytes(pages), before);
  SetEncodedSize(state, encoded.size(), BitmapBytes(pages));
}

void BM_DecodeBitmap(benchmark::State& state, DirtyShape shape) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const PageBitmap& bitmap =
      Cached<PageBitmap>(pages, shape, [&] { return MakeBitmap(pages, shape); });
  const std::string& encoded =
      Cached<std::string>(pages, 100 + shape, [&] { return EncodeBitmap(BenchHeader(), bitmap); });
  Result<DecodedBitmap> first = DecodeBitmap(encoded);
  if (!first.ok() || !(first->bitmap == bitmap)) {
    Fail(state, "DecodeBitmap did not return the encoded bitmap");
    return;
  }
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    Result<DecodedBitmap> decoded = DecodeBitmap(encoded);
    benchmark::DoNotOptimize(decoded);
    benchmark::ClobberMemory();
  }
  ReportRaw(state, pages, BitmapBytes(pages), before);
  SetEncodedSize(state, encoded.size(), BitmapBytes(pages));
}

// ---- Reuse by content ---------------------------------------------------------------------------

// `pages` pages of distinct, incompressible content (a xorshift stream; the page number seeds it).
struct PageContent {
  std::vector<uint64_t> words;
  const char* page(uint64_t p) const {
    return reinterpret_cast<const char*>(words.data()) + p * kPageSize;
  }
};

PageContent MakePageContent(uint64_t pages) {
  PageContent c;
  c.words.resize(pages * kPageSize / sizeof(uint64_t));
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (uint64_t& w : c.words) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w = x;
  }
  return c;
}

const PageContent& ContentOf(uint64_t pages) {
  return Cached<PageContent>(pages, 0, [&] { return MakePageContent(pages); });
}

void BM_MemcpyPages(benchmark::State& state) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const PageContent& in = ContentOf(pages);
  std::vector<char> out(kPageSize);
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    for (uint64_t p = 0; p < pages; ++p) {
      std::memcpy(out.data(), in.page(p), kPageSize);
      benchmark::DoNotOptimize(out.data());
    }
    benchmark::ClobberMemory();
  }
  if (std::memcmp(out.data(), in.page(pages - 1), kPageSize) != 0) Fail(state, "copy differs");
  ReportRaw(state, pages, pages * kPageSize, before);
}

void BM_PageDigests(benchmark::State& state) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const PageContent& in = ContentOf(pages);
  std::vector<uint64_t> digests(pages);
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    for (uint64_t p = 0; p < pages; ++p) digests[p] = PageDigest(in.page(p));
    benchmark::DoNotOptimize(digests.data());
    benchmark::ClobberMemory();
  }
  if (std::set<uint64_t>(digests.begin(), digests.end()).size() != pages) {
    Fail(state, "distinct pages with equal digests");
  }
  ReportRaw(state, pages, pages * kPageSize, before);
}

void BM_PageSha256(benchmark::State& state) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const PageContent& in = ContentOf(pages);
  migrate::Sha256 first{}, last{};
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    for (uint64_t p = 0; p < pages; ++p) {
      last = migrate::PageSha256(in.page(p));
      benchmark::DoNotOptimize(last);
      if (p == 0) first = last;
    }
  }
  if (first == last || last == migrate::Sha256{}) Fail(state, "SHA-256 of distinct pages equal");
  ReportRaw(state, pages, pages * kPageSize, before);
}

// One file's digests, as memfs would give them for a mount holding one VM of `pages` pages.
class DigestFiles final : public migrate::ContentFiles {
 public:
  explicit DigestFiles(const std::vector<uint64_t>* digests) : digests_(digests) {}
  Result<std::vector<std::string>> List() override { return std::vector<std::string>{"ram"}; }
  Result<PageDigests> Digests(const std::string&) override {
    return PageDigests::FromDense(*digests_);
  }

 private:
  const std::vector<uint64_t>* digests_;
};

void BM_BuildIndex(benchmark::State& state) {
  const auto pages = static_cast<uint64_t>(state.range(0));
  const std::vector<uint64_t>& digests = Cached<std::vector<uint64_t>>(pages, 1, [&] {
    const PageContent& in = ContentOf(pages);
    std::vector<uint64_t> d(pages);
    for (uint64_t p = 0; p < pages; ++p) d[p] = PageDigest(in.page(p));
    return d;
  });
  DigestFiles files(&digests);
  uint64_t entries = 0, bytes = 0;
  const Usage before = ThreadUsage();
  for (auto _ : state) {
    const migrate::ContentIndex index = migrate::ContentIndex::Build(files, pages);
    entries = index.entries().size();
    bytes = index.bytes();
    benchmark::DoNotOptimize(entries);
  }
  if (entries != pages) Fail(state, "the index left pages out");
  ReportRaw(state, pages, pages * sizeof(uint64_t), before);
  state.counters["index_bytes_per_page"] =
      static_cast<double>(bytes) / static_cast<double>(std::max<uint64_t>(entries, 1));
}

BENCHMARK(BM_MemcpyPages)->ArgName("pages")->Arg(kPages1GiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PageDigests)->ArgName("pages")->Arg(kPages1GiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PageSha256)->ArgName("pages")->Arg(kPages1GiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildIndex)->ArgName("pages")->Arg(kPages1GiB)->Unit(benchmark::kMillisecond);

// Both VM sizes.
void Sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("pages")->Arg(kPages1GiB)->Arg(kPages64GiB)->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_MemcpyTable)->Apply(Sizes);
BENCHMARK(BM_NaiveCompare)->Apply(Sizes);
BENCHMARK(BM_Compare)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_ApplyDirty, singles_5pct, kSingles5)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_ApplyDirty, runs64_5pct, kRuns64x5)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_EncodeTable, mostly_equal, kMostlyEqual)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_EncodeTable, random, kRandom)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_DecodeTable, mostly_equal, kMostlyEqual)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_DecodeTable, random, kRandom)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_EncodeTableTo, mostly_equal, kMostlyEqual)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_EncodeTableTo, random, kRandom)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_DecodeTableInto, mostly_equal, kMostlyEqual)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_DecodeTableInto, random, kRandom)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_EncodeBitmap, singles_5pct, kSingles5)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_EncodeBitmap, sparse, kSparse)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_DecodeBitmap, singles_5pct, kSingles5)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_DecodeBitmap, sparse, kSparse)->Apply(Sizes);

}  // namespace
}  // namespace mkd

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (ran == 0) {
    std::fprintf(stderr, "genstore_bench: no benchmark matched the filter\n");
    return 1;
  }
  if (mkd::g_check_failed) {
    std::fprintf(stderr, "genstore_bench: a result check failed (see the error rows above)\n");
    return 1;
  }
  return 0;
}
