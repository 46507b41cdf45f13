// Writes the seed corpus of the fuzz targets: OUT/<target>/<seed name>, for each target below.
// Seeds are valid encodings of varied shapes (sizes at block and chunk boundaries, runs, raw and
// mixed blocks, odd names and extreme fields), hand-built encodings that are valid but not what
// the encoder writes, and deliberately broken ones (truncated, flipped byte, valid checksum over a
// bad header or body). Deterministic: regenerating changes no file unless an encoding changed.
//
// Usage: make_corpus OUT           replaces the seeds in OUT/<target>/ (`ninja -C build
// fuzz-corpus`)
//        make_corpus --check OUT   exit 1 unless OUT/<target>/ holds exactly these seeds (a test:
//                                  an encoding change leaves the committed corpus stale)
// Files named regress_* (crash reproducers, README.md) are neither removed nor checked.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/check.h"
#include "base/uuid.h"
#include "genstore/bitmap_codec.h"
#include "genstore/chunking.h"
#include "genstore/digests.h"
#include "genstore/generation.h"
#include "genstore/generation_table.h"
#include "genstore/incarnation.h"
#include "genstore/page_bitmap.h"
#include "genstore/table_codec.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

namespace fs = std::filesystem;
using mkd::fuzz::WithValidChecksum;

// The seeds of one target, by file name.
class Seeds {
 public:
  void Write(std::string_view name, std::string_view bytes) {
    MKD_CHECK(seeds_.emplace(name, bytes).second);
  }
  const std::map<std::string, std::string>& all() const { return seeds_; }

 private:
  std::map<std::string, std::string> seeds_;
};

bool IsRegressionInput(const fs::path& p) { return p.filename().string().starts_with("regress_"); }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(fs::file_size(path), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  MKD_CHECK(in.good());
  return bytes;
}

// Replaces the seeds in `dir` by `seeds`.
void WriteSeeds(const fs::path& dir, const Seeds& seeds) {
  fs::create_directories(dir);
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && !IsRegressionInput(e.path())) fs::remove(e.path());
  }
  size_t total = 0;
  for (const auto& [name, bytes] : seeds.all()) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    MKD_CHECK(out.good());
    total += bytes.size();
  }
  std::printf("make_corpus: %-40s %3zu seeds, %8zu bytes\n", dir.c_str(), seeds.all().size(),
              total);
}

// Reports every difference between `dir` and `seeds`; true when there is none.
bool CheckSeeds(const fs::path& dir, const Seeds& seeds) {
  bool same = true;
  std::map<std::string, bool> on_disk;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && !IsRegressionInput(e.path())) on_disk[e.path().filename()] = true;
  }
  for (const auto& [name, bytes] : seeds.all()) {
    if (!on_disk.erase(name)) {
      std::printf("make_corpus: %s is missing\n", (dir / name).c_str());
      same = false;
    } else if (ReadFile(dir / name) != bytes) {
      std::printf("make_corpus: %s differs from what the encoder writes now\n",
                  (dir / name).c_str());
      same = false;
    }
  }
  for (const auto& [name, unused] : on_disk) {
    std::printf("make_corpus: %s is not a seed make_corpus writes\n", (dir / name).c_str());
    same = false;
  }
  return same;
}

template <typename T>
void Append(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

std::string Truncated(std::string s) {
  s.pop_back();
  return s;
}
std::string Flipped(std::string s, size_t at) {
  s.at(at) = static_cast<char>(s.at(at) ^ 0x20);
  return s;
}

// The raw engine only (its output is fixed by the standard; distributions are not).
std::mt19937_64 rng(20240601);

std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

mkd::CodecHeader Header(mkd::Epoch epoch, std::string block = "ram") {
  mkd::CodecHeader h;
  h.vm = mkd::Uuid::Parse("6f1c2a3e-8d4b-4c5a-9e7f-0123456789ab").value();
  h.block = std::move(block);
  h.epoch = epoch;
  return h;
}

// An envelope written field by field (docs/formats.md, "Envelope"), for encodings the encoder
// never writes: any version, flags, page count, name and body, with a right checksum.
struct RawEnvelope {
  std::string_view magic;
  uint64_t pages = 0;
  std::string body;
  std::string name = "ram";
  uint16_t version = 1;
  uint16_t flags = 0;
};

std::string Build(const RawEnvelope& e) {
  std::string out(e.magic);
  Append<uint16_t>(&out, e.version);
  Append<uint16_t>(&out, e.flags);
  const mkd::CodecHeader h = Header(3);
  out.append(reinterpret_cast<const char*>(h.vm.bytes.data()), h.vm.bytes.size());
  Append<uint32_t>(&out, h.epoch);
  Append<uint64_t>(&out, e.pages);
  out.push_back(static_cast<char>(e.name.size()));
  out.append(e.name);
  out.append(e.body);
  out.append(8, '\0');
  return WithValidChecksum(out);
}

// Body blocks (docs/formats.md, "Body"): raw, or runs of (length, value).
template <typename T>
std::string RawBlock(const std::vector<T>& values) {
  std::string out(1, '\0');
  for (T v : values) Append<T>(&out, v);
  return out;
}
template <typename T>
std::string RunsBlock(const std::vector<std::pair<uint16_t, T>>& runs) {
  std::string out(1, '\1');
  Append<uint16_t>(&out, static_cast<uint16_t>(runs.size()));
  for (const auto& [length, value] : runs) {
    Append<uint16_t>(&out, length);
    Append<T>(&out, value);
  }
  return out;
}

mkd::GenerationTable Table(uint64_t pages, const std::vector<std::pair<uint64_t, uint32_t>>& runs) {
  std::vector<mkd::Generation> gens;
  for (const auto& [length, gen] : runs) gens.insert(gens.end(), length, gen);
  gens.resize(pages, mkd::kGenNeverWritten);
  return mkd::GenerationTable::FromGenerations(std::move(gens));
}

Seeds TableSeeds() {
  Seeds dir;
  const mkd::Generation kInv = mkd::kGenInvalid;
  dir.Write("zero_bytes", "");
  dir.Write("empty_table", mkd::EncodeTable(Header(1), mkd::GenerationTable(0)));
  dir.Write("one_page", mkd::EncodeTable(Header(7), Table(1, {{1, 7}})));
  dir.Write("one_block_one_run", mkd::EncodeTable(Header(3), Table(4096, {{4096, 3}})));
  const std::string runs_4097 =
      mkd::EncodeTable(Header(9), Table(4097, {{1000, 0}, {1500, 5}, {1500, kInv}, {97, 9}}));
  dir.Write("pages_4097_runs", runs_4097);

  std::vector<mkd::Generation> random(5000);
  for (mkd::Generation& g : random) {
    const uint64_t r = rng() % 24;
    g = r == 22 ? kInv : r == 23 ? mkd::kMaxEpoch : static_cast<mkd::Generation>(r);
  }
  dir.Write("random_gens_5000",
            mkd::EncodeTable(Header(21), mkd::GenerationTable::FromGenerations(random)));

  // Block 0: 1024 runs (n/4, the most still written as runs); block 1: more (written raw);
  // block 2: two runs; block 3: 5 pages, one run.
  std::vector<mkd::Generation> mixed;
  for (int i = 0; i < 1024; ++i)
    mixed.insert(mixed.end(), 4, static_cast<mkd::Generation>(i % 2 + 1));
  for (int i = 0; i < 1025; ++i) mixed.push_back(static_cast<mkd::Generation>(i % 2 + 1));
  mixed.insert(mixed.end(), 4096 - 1025, 2);
  mixed.insert(mixed.end(), 2000, 6);
  mixed.insert(mixed.end(), 2096, kInv);
  mixed.insert(mixed.end(), 5, 4);
  dir.Write("mixed_blocks_12293",
            mkd::EncodeTable(Header(6), mkd::GenerationTable::FromGenerations(mixed)));

  dir.Write("all_invalid_10000", mkd::EncodeTable(Header(2), Table(10000, {{10000, kInv}})));
  dir.Write("never_written_1m", mkd::EncodeTable(Header(1), mkd::GenerationTable(1 << 20)));

  mkd::GenerationTable provisional(300);
  for (uint64_t p = 10; p < 20; ++p) MKD_CHECK(provisional.SetProvisional(p, 5).ok());
  dir.Write("provisional_pending", mkd::EncodeTable(Header(5), provisional));

  std::string long_name = "ram-node0.";
  while (long_name.size() < mkd::kMaxBlockNameLength) long_name += "aZ9_-.";
  long_name.resize(mkd::kMaxBlockNameLength);
  dir.Write("max_epoch_long_name",
            mkd::EncodeTable(Header(mkd::kMaxEpoch, long_name), Table(64, {{32, mkd::kMaxEpoch}})));

  // Valid, but not what the encoder writes: a raw block of equal values, runs that could merge.
  dir.Write("noncanonical_raw_block",
            Build({.magic = "MKDT", .pages = 4, .body = RawBlock<uint32_t>({0, 0, 0, 0})}));
  dir.Write("noncanonical_split_runs",
            Build({.magic = "MKDT", .pages = 8, .body = RunsBlock<uint32_t>({{3, 5}, {5, 5}})}));

  // Broken.
  dir.Write("broken_truncated", Truncated(runs_4097));
  dir.Write("broken_flipped_body", Flipped(runs_4097, runs_4097.size() - 12));
  dir.Write("broken_flipped_magic", Flipped(runs_4097, 0));
  dir.Write("broken_bitmap_magic", mkd::EncodeBitmap(Header(1), mkd::PageBitmap(64)));
  const std::string one_run = RunsBlock<uint32_t>({{8, 1}});
  dir.Write("broken_version_2",
            Build({.magic = "MKDT", .pages = 8, .body = one_run, .version = 2}));
  dir.Write("broken_flags", Build({.magic = "MKDT", .pages = 8, .body = one_run, .flags = 1}));
  dir.Write("broken_name_dotdot",
            Build({.magic = "MKDT", .pages = 8, .body = one_run, .name = ".."}));
  dir.Write("broken_name_empty", Build({.magic = "MKDT", .pages = 8, .body = one_run, .name = ""}));
  dir.Write("broken_name_slash",
            Build({.magic = "MKDT", .pages = 8, .body = one_run, .name = "a/b"}));
  dir.Write("broken_pages_over_cap",
            Build({.magic = "MKDT", .pages = mkd::kMaxPages + 1, .body = one_run}));
  dir.Write("broken_pages_cap_tiny_body",
            Build({.magic = "MKDT", .pages = mkd::kMaxPages, .body = one_run}));
  // Padded to the 9 bytes a block needs at least, to get past the size check to the block.
  const std::string pad(8, '\0');
  dir.Write("broken_block_kind", Build({.magic = "MKDT", .pages = 8, .body = "\2" + pad}));
  dir.Write("broken_zero_runs",
            Build({.magic = "MKDT", .pages = 8, .body = RunsBlock<uint32_t>({}) + pad}));
  dir.Write("broken_zero_length_run",
            Build({.magic = "MKDT", .pages = 8, .body = RunsBlock<uint32_t>({{0, 1}, {8, 1}})}));
  dir.Write("broken_runs_overflow",
            Build({.magic = "MKDT", .pages = 8, .body = RunsBlock<uint32_t>({{5, 1}, {5, 2}})}));
  dir.Write("broken_runs_short",
            Build({.magic = "MKDT", .pages = 8, .body = RunsBlock<uint32_t>({{5, 1}, {2, 2}})}));
  dir.Write("broken_raw_truncated",
            Build({.magic = "MKDT", .pages = 8, .body = RawBlock<uint32_t>({1, 2, 3})}));
  dir.Write("broken_trailing_bytes", Build({.magic = "MKDT", .pages = 8, .body = one_run + "x"}));
  return dir;
}

mkd::PageBitmap Bitmap(uint64_t pages, uint64_t pattern) {
  mkd::PageBitmap b(pages);
  for (uint64_t p = 0; p < pages; ++p) {
    if ((pattern >> (p % 64)) & 1) b.Set(p);
  }
  return b;
}

Seeds BitmapSeeds() {
  Seeds dir;
  dir.Write("zero_bytes", "");
  dir.Write("pages_0", mkd::EncodeBitmap(Header(1), mkd::PageBitmap(0)));
  dir.Write("pages_1_set", mkd::EncodeBitmap(Header(1), Bitmap(1, ~uint64_t{0})));
  dir.Write("pages_63_alternating", mkd::EncodeBitmap(Header(2), Bitmap(63, 0x5555555555555555)));
  dir.Write("pages_64_all_set", mkd::EncodeBitmap(Header(3), Bitmap(64, ~uint64_t{0})));
  const std::string b65 = mkd::EncodeBitmap(Header(4), Bitmap(65, 0x8000000000000001));
  dir.Write("pages_65_edges", b65);
  dir.Write("pages_100000_clear", mkd::EncodeBitmap(Header(5), mkd::PageBitmap(100000)));
  dir.Write("pages_100000_set", mkd::EncodeBitmap(Header(5), Bitmap(100000, ~uint64_t{0})));

  mkd::PageBitmap sparse(100000);
  for (uint64_t p = 0; p < 100000; p += 997) sparse.Set(p);
  sparse.Set(99999);
  dir.Write("pages_100000_sparse", mkd::EncodeBitmap(Header(6), sparse));

  mkd::PageBitmap runs(100000);
  runs.SetRange(100, 30000);
  runs.SetRange(40000, 5);
  runs.SetRange(65536, 32768);
  dir.Write("pages_100000_runs", mkd::EncodeBitmap(Header(7), runs));

  mkd::PageBitmap random(40000);  // block 0 raw (random words), block 1 a short tail
  for (uint64_t p = 0; p < 40000; ++p) {
    if (rng() & 1) random.Set(p);
  }
  dir.Write("pages_40000_random", mkd::EncodeBitmap(Header(8), random));
  dir.Write("pages_32768_one_block",
            mkd::EncodeBitmap(Header(9), Bitmap(32768, 0xff00ff00ff00ff00)));

  dir.Write("noncanonical_raw_block",
            Build({.magic = "MKDB", .pages = 128, .body = RawBlock<uint64_t>({7, 7})}));

  dir.Write("broken_truncated", Truncated(b65));
  dir.Write("broken_flipped_body", Flipped(b65, b65.size() - 12));
  dir.Write("broken_table_magic", mkd::EncodeTable(Header(1), mkd::GenerationTable(64)));
  dir.Write("broken_bits_past_end",
            Build({.magic = "MKDB", .pages = 65, .body = RawBlock<uint64_t>({0, 2})}));
  dir.Write(
      "broken_runs_bits_past_end",
      Build({.magic = "MKDB", .pages = 100, .body = RunsBlock<uint64_t>({{2, ~uint64_t{0}}})}));
  dir.Write(
      "broken_pages_cap_tiny_body",
      Build({.magic = "MKDB", .pages = mkd::kMaxPages, .body = RunsBlock<uint64_t>({{1, 0}})}));
  dir.Write("broken_trailing_bytes",
            Build({.magic = "MKDB", .pages = 64, .body = RunsBlock<uint64_t>({{1, 0}}) + "\1"}));
  return dir;
}

Seeds ChunkSeeds() {
  using mkd::fuzz::JoinRecords;
  Seeds dir;
  dir.Write("zero_bytes", "");
  for (size_t size :
       {size_t{0}, size_t{1}, mkd::kChunkPayload, mkd::kChunkPayload + 1, size_t{200000}}) {
    dir.Write("blob_" + std::to_string(size), JoinRecords(mkd::SplitIntoChunks(RandomBytes(size))));
  }
  const std::string table = mkd::EncodeTable(
      Header(9), Table(100000, {{1000, 0}, {50000, 5}, {1500, mkd::kGenInvalid}, {97, 9}}));
  dir.Write("blob_table", JoinRecords(mkd::SplitIntoChunks(table)));
  // The whole input as one chunk (ParseChunk), without record lengths.
  dir.Write("single_chunk_unframed", mkd::SplitIntoChunks("a small blob").front());

  const std::vector<std::string> two = mkd::SplitIntoChunks(RandomBytes(mkd::kChunkPayload + 100));
  const std::vector<std::string> other =
      mkd::SplitIntoChunks(RandomBytes(mkd::kChunkPayload + 100));
  const std::vector<std::string> small = mkd::SplitIntoChunks("0123456789");
  dir.Write("broken_reordered", JoinRecords({two[1], two[0]}));
  dir.Write("broken_missing_last", JoinRecords({two[0]}));
  dir.Write("broken_extra_chunk", JoinRecords({two[0], two[1], two[1]}));
  dir.Write("broken_foreign_chunk", JoinRecords({two[0], other[1]}));
  dir.Write("broken_truncated_chunk", JoinRecords({two[0], Truncated(two[1])}));
  dir.Write("broken_flipped_payload", JoinRecords({two[0], Flipped(two[1], 50)}));
  dir.Write("broken_flipped_small", JoinRecords({Flipped(small[0], 40)}));
  std::string bad_index = small[0];
  bad_index[8] = 1;  // index 1 of 1 chunk
  dir.Write("broken_index_past_count", JoinRecords({WithValidChecksum(bad_index)}));
  std::string bad_total = small[0];
  bad_total[16] = 11;  // claims 11 bytes, carries 10
  dir.Write("broken_total_size", JoinRecords({WithValidChecksum(bad_total)}));
  std::string bad_hash = small[0];
  bad_hash[24] = static_cast<char>(bad_hash[24] ^ 1);
  dir.Write("broken_blob_hash", JoinRecords({WithValidChecksum(bad_hash)}));
  return dir;
}

mkd::IncarnationMeta Meta(mkd::IncarnationState state) {
  mkd::IncarnationMeta m;
  m.key.vm = Header(1).vm;
  m.key.block = "ram";
  m.key.incarnation = 3;
  m.lineage = mkd::Uuid::Parse("0d6f3c1b-7a2e-4f15-8b9c-a1b2c3d4e5f6").value();
  m.state = state;
  m.epoch = 12;
  m.pages = 262144;
  m.host_id = "host-a";
  m.updated_unix_ms = 1717200000000;
  m.left_unix_ms = state == mkd::IncarnationState::kStored ? 1717199990000 : 0;
  m.serial = 41;
  return m;
}

Seeds IncarnationSeeds() {
  Seeds dir;
  dir.Write("zero_bytes", "");
  const std::string stored = mkd::EncodeIncarnationMeta(Meta(mkd::IncarnationState::kStored));
  dir.Write("stored", stored);
  dir.Write("live", mkd::EncodeIncarnationMeta(Meta(mkd::IncarnationState::kLive)));
  dir.Write("incoming", mkd::EncodeIncarnationMeta(Meta(mkd::IncarnationState::kIncoming)));
  mkd::IncarnationMeta extreme = Meta(mkd::IncarnationState::kLive);
  extreme.key.block = std::string(mkd::kMaxBlockNameLength, 'b');
  extreme.key.incarnation = UINT64_MAX;
  extreme.epoch = mkd::kMaxEpoch;
  extreme.pages = mkd::kMaxPages;
  extreme.host_id = std::string(64, 'h');
  extreme.updated_unix_ms = INT64_MAX;
  extreme.left_unix_ms = INT64_MAX;
  extreme.lineage = mkd::Uuid::Parse("ffffffff-ffff-ffff-ffff-ffffffffffff").value();
  extreme.serial = UINT64_MAX;
  dir.Write("extreme_values", mkd::EncodeIncarnationMeta(extreme));
  mkd::IncarnationMeta zero = Meta(mkd::IncarnationState::kStored);
  zero.key.incarnation = 0;
  zero.epoch = 0;
  zero.pages = 0;
  zero.updated_unix_ms = 0;
  zero.left_unix_ms = 0;
  zero.serial = 0;
  dir.Write("zero_values", mkd::EncodeIncarnationMeta(zero));

  // Accepted, but not what the encoder writes.
  dir.Write(
      "noncanonical_pretty",
      "{\n  \"serial\": 1, \"updated_unix_ms\": 2, \"host_id\": \"h.1_x-Y\",\n"
      "  \"pages\": 64, \"epoch\": 1, \"state\": \"live\", \"incarnation\": 1,\n"
      "  \"left_unix_ms\": 0, \"lineage\": \"0D6F3C1B-7A2E-4F15-8B9C-A1B2C3D4E5F6\",\n"
      "  \"block\": \"ram-node0\", \"vm\": \"6F1C2A3E-8D4B-4C5A-9E7F-0123456789AB\",\n"
      "  \"version\": 2, \"format\": \"mkd-incarnation\", \"comment\": [null, true, 1.5e3]\n}\n");

  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string s = stored;
    const size_t at = s.find(from);
    MKD_CHECK(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  dir.Write("broken_truncated", Truncated(stored));
  dir.Write("broken_not_object", "[\"mkd-incarnation\", 1]");
  dir.Write("broken_nesting", std::string(2000, '[') + std::string(2000, ']'));
  dir.Write("broken_too_long", stored + std::string(mkd::kMaxIncarnationMetaSize, ' '));
  dir.Write("broken_format", replaced("mkd-incarnation", "mkd-incarnatiom"));
  dir.Write("broken_version_1", replaced("\"version\":2", "\"version\":1"));
  dir.Write("broken_version_3", replaced("\"version\":2", "\"version\":3"));
  dir.Write("broken_version_float", replaced("\"version\":2", "\"version\":2.0"));
  dir.Write("broken_missing_field", replaced("\"serial\":41", "\"serials\":41"));
  dir.Write("broken_negative", replaced("\"epoch\":12", "\"epoch\":-12"));
  dir.Write("broken_epoch_invalid", replaced("\"epoch\":12", "\"epoch\":4294967295"));
  dir.Write("broken_pages_over_cap", replaced("\"pages\":262144", "\"pages\":268435457"));
  dir.Write("broken_state", replaced("\"stored\"", "\"gone\""));
  dir.Write("broken_state_type", replaced("\"stored\"", "2"));
  dir.Write("broken_uuid", replaced("6f1c2a3e-", "6f1c2a3e_"));
  dir.Write("broken_block_name", replaced("\"block\":\"ram\"", "\"block\":\"..\""));
  dir.Write("broken_host_id", replaced("\"host-a\"", "\"host a\""));
  dir.Write("broken_bad_utf8", replaced("\"host-a\"", "\"host-\xff\""));
  dir.Write("broken_updated_over_cap", replaced("1717200000000", "9223372036854775808"));
  dir.Write("broken_lineage_missing", replaced("\"lineage\"", "\"lineages\""));
  dir.Write("broken_lineage_nil", replaced("0d6f3c1b-7a2e-4f15-8b9c-a1b2c3d4e5f6",
                                           "00000000-0000-0000-0000-000000000000"));
  dir.Write("broken_lineage_type",
            replaced("\"0d6f3c1b-7a2e-4f15-8b9c-a1b2c3d4e5f6\"", "[\"0d6f3c1b\"]"));
  dir.Write("broken_left_missing", replaced("\"left_unix_ms\"", "\"left_unix_s\""));
  dir.Write("broken_left_negative",
            replaced("\"left_unix_ms\":1717199990000", "\"left_unix_ms\":-1717199990000"));
  dir.Write("broken_left_over_cap", replaced("1717199990000", "9223372036854775808"));
  return dir;
}

Seeds DigestSeeds() {
  Seeds dir;
  std::mt19937_64 engine(20261127);  // its own engine: the other targets' seeds stay as they are
  auto digests = [&](size_t n) {
    std::vector<uint64_t> d(n);
    for (uint64_t& x : d) x = engine();
    return d;
  };
  auto raw = [](std::vector<uint64_t> d) {
    std::string body;
    for (uint64_t x : d) Append<uint64_t>(&body, x);
    return body;
  };
  dir.Write("zero_bytes", "");
  dir.Write("pages_0", mkd::EncodeDigests(Header(1), mkd::PageDigests()));
  dir.Write("pages_1_zero_page",
            mkd::EncodeDigests(Header(1), std::vector<uint64_t>{mkd::ZeroPageDigest()}));
  const std::string three = mkd::EncodeDigests(Header(2), digests(3));
  dir.Write("pages_3", three);
  dir.Write("pages_64_zero_pages",
            mkd::EncodeDigests(Header(3), std::vector<uint64_t>(64, mkd::ZeroPageDigest())));
  dir.Write("pages_4096", mkd::EncodeDigests(Header(4), digests(4096)));
  dir.Write("pages_4097", mkd::EncodeDigests(Header(5), digests(4097)));
  std::string long_name = "ram-node0.";
  while (long_name.size() < mkd::kMaxBlockNameLength) long_name += "aZ9_-.";
  long_name.resize(mkd::kMaxBlockNameLength);
  dir.Write("max_epoch_long_name", mkd::EncodeDigests(Header(mkd::kMaxEpoch, long_name),
                                                      std::vector<uint64_t>{0, ~uint64_t{0}}));
  // Version 2 (sparse): extents with holes between them, an empty terabyte; version 1 (raw).
  std::vector<uint64_t> holes = digests(300);
  for (size_t i = 0; i < holes.size(); i += 7) holes[i] = mkd::ZeroPageDigest();
  dir.Write("sparse_holes", mkd::EncodeDigests(Header(6), holes));
  dir.Write("sparse_empty_max_pages",
            mkd::EncodeDigests(Header(7), mkd::PageDigests(mkd::kMaxPages)));
  dir.Write("v1_pages_3", mkd::internal::EncodeDigestsV1(Header(2), digests(3)));
  dir.Write("v1_pages_4097", mkd::internal::EncodeDigestsV1(Header(5), digests(4097)));

  dir.Write("broken_truncated", Truncated(three));
  dir.Write("broken_flipped_body", Flipped(three, three.size() - 12));
  dir.Write("broken_flipped_magic", Flipped(three, 0));
  dir.Write("broken_table_magic", mkd::EncodeTable(Header(1), mkd::GenerationTable(2)));
  const std::string two = raw({1, 2});
  dir.Write("broken_version_3", Build({.magic = "MKDD", .pages = 2, .body = two, .version = 3}));
  dir.Write("broken_sparse_zero_digest",
            Build({.magic = "MKDD",
                   .pages = 2,
                   .body = raw({1}) + raw({1}).substr(0, 4) + raw({mkd::ZeroPageDigest()}),
                   .version = 2}));
  dir.Write("broken_flags", Build({.magic = "MKDD", .pages = 2, .body = two, .flags = 1}));
  dir.Write("broken_name_dotdot", Build({.magic = "MKDD", .pages = 2, .body = two, .name = ".."}));
  dir.Write("broken_pages_over_cap",
            Build({.magic = "MKDD", .pages = mkd::kMaxPages + 1, .body = two}));
  dir.Write("broken_pages_cap_tiny_body",
            Build({.magic = "MKDD", .pages = mkd::kMaxPages, .body = two}));
  dir.Write("broken_body_short", Build({.magic = "MKDD", .pages = 3, .body = two}));
  dir.Write("broken_body_long", Build({.magic = "MKDD", .pages = 1, .body = two}));
  dir.Write("broken_body_odd", Build({.magic = "MKDD", .pages = 2, .body = two + "x"}));
  return dir;
}

}  // namespace

int main(int argc, char** argv) {
  const bool check = argc == 3 && std::string_view(argv[1]) == "--check";
  if (argc != 2 + check) {
    std::fprintf(stderr, "usage: %s [--check] OUT_DIR   (OUT_DIR/<target>/...)\n", argv[0]);
    return 2;
  }
  const fs::path root(argv[argc - 1]);
  const std::pair<const char*, Seeds> targets[] = {
      {"decode_table", TableSeeds()},    {"decode_bitmap", BitmapSeeds()},
      {"join_chunks", ChunkSeeds()},     {"decode_incarnation_meta", IncarnationSeeds()},
      {"decode_digests", DigestSeeds()},
  };
  bool same = true;
  for (const auto& [target, seeds] : targets) {
    if (check) {
      same = CheckSeeds(root / target, seeds) && same;
    } else {
      WriteSeeds(root / target, seeds);
    }
  }
  if (!same) {
    std::printf(
        "make_corpus: the seed corpus is stale; regenerate it: ninja -C build fuzz-corpus\n");
    return 1;
  }
  if (check) std::printf("make_corpus: the seed corpus in %s is up to date\n", root.c_str());
  return 0;
}
