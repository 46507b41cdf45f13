// Tests of reuse by content: PageSha256 against known vectors; ContentIndex over fake files and a
// fake page reader (the index leaves zero pages out and is sorted; a page is copied only when the
// XXH3-64 and the SHA-256 of what was read equal the offer's, so a stale candidate, a candidate
// whose recorded digest lies and a real XXH3-64 collision are all misses, and a later right
// candidate is still found; at most kMaxCandidates reads per offer; read errors are misses; the
// entry cap; unreadable files skipped); ContentIndexCache (one build for concurrent callers, none
// under its mutex, reuse within max_age, a rebuild after it); and what the mount adapters do on
// plain files (listing, reading pages; the digests need memfs: tests/system).
#include "migrate-tool/content_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "base/temp_dir_for_test.h"
#include "base/uuid.h"
#include "genstore/generation.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/content_files_mount.h"

namespace mkd::migrate {
namespace {

using Entry = ContentIndex::Entry;

// A page whose bytes follow from `seed` (different seeds, different pages).
std::string Page(uint64_t seed) {
  std::string page(kPageSize, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < page.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(page.data() + i, &v, 8);
  }
  return page;
}

std::string ZeroPage() { return std::string(kPageSize, '\0'); }

uint64_t Xxh(const std::string& page) { return PageDigest(page.data()); }
Sha256 Sha(const std::string& page) { return PageSha256(page.data()); }

std::string Hex(const Sha256& sha) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : sha) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

// Two different pages with the same XXH3-64 (seed 0, as PageDigest): XXH3's long-input loop adds
// each 8-byte lane v of stripe s into the neighbour accumulator (acc[lane ^ 1] += v) and
// lo32(v ^ k) * hi32(v ^ k) into its own, k being the secret's 8 bytes at 8 * (s + lane); the
// accumulators are scrambled only between 1 KiB blocks. With lo32(v ^ k) == 0 the product is 0,
// so in stripes 0 and 1 of the first block (lane 0) moving m << 32 from one lane value to the
// other leaves every accumulator as it was. The low halves of the default secret's first and
// second 8 bytes (xxhash.h, XXH3_kSecret: b8 fe 6c 39 ..., 7c 01 81 2c ...) make lo32 zero.
// The tests assert that the pair collides, so a different XXH3 fails them loudly.
std::pair<std::string, std::string> CollidingPages() {
  std::string a = Page(4242);
  const uint64_t v0 = (uint64_t{0x11111111} << 32) | 0x396cfeb8u;
  const uint64_t v1 = (uint64_t{0x22222222} << 32) | 0x2c81017cu;
  std::memcpy(a.data() + 0, &v0, 8);
  std::memcpy(a.data() + 64, &v1, 8);
  std::string b = a;
  const uint64_t m = uint64_t{0x01020304} << 32;
  const uint64_t w0 = v0 + m;
  const uint64_t w1 = v1 - m;
  std::memcpy(b.data() + 0, &w0, 8);
  std::memcpy(b.data() + 64, &w1, 8);
  return {a, b};
}

// Files with pages; Digests() returns what `recorded` says (by default the digests of the pages
// as they were when Record() was called: a later SetPage makes the index stale).
class FakeFiles final : public ContentFiles {
 public:
  void AddFile(const std::string& name, std::vector<std::string> pages) {
    names_.push_back(name);
    pages_[name] = std::move(pages);
    Record(name);
  }
  // Records the digests of `name`'s pages as they are now.
  void Record(const std::string& name) {
    std::vector<uint64_t> d;
    for (const std::string& p : pages_[name]) d.push_back(Xxh(p));
    recorded_[name] = PageDigests::FromDense(d);
  }
  // Makes the recorded digest of one page `digest` (whatever its content).
  void LieAbout(const std::string& name, uint64_t page, uint64_t digest) {
    std::vector<uint64_t> d = recorded_[name].ToDense();
    d[page] = digest;
    recorded_[name] = PageDigests::FromDense(d);
  }
  void SetPage(const std::string& name, uint64_t page, std::string content) {
    pages_[name][page] = std::move(content);
  }
  void FailDigests(const std::string& name) { failing_.insert(name); }
  void FailList() { list_fails_ = true; }
  const std::string& PageOf(const std::string& name, uint64_t page) {
    return pages_.at(name).at(page);
  }

  Result<std::vector<std::string>> List() override {
    if (list_fails_) return Status::Io("fake: cannot list");
    return names_;
  }
  Result<PageDigests> Digests(const std::string& file) override {
    ++digest_calls;
    if (failing_.count(file) != 0) return Status::Corrupt(file + ": fake: bad digests");
    auto it = recorded_.find(file);
    if (it == recorded_.end()) return Status::NotFound(file + ": fake: no such file");
    return it->second;
  }

  int digest_calls = 0;

 private:
  std::vector<std::string> names_;
  std::map<std::string, std::vector<std::string>> pages_;
  std::map<std::string, PageDigests> recorded_;
  std::set<std::string> failing_;
  bool list_fails_ = false;
};

// Reads pages of a FakeFiles as they are now; counts reads; can fail one page's reads or return
// other content for it (as if the page had been rewritten between the read and... anything).
class FakeReader final : public PageReader {
 public:
  explicit FakeReader(FakeFiles& files) : files_(files) {}
  void FailRead(const std::string& name, uint64_t page) { failing_.insert({name, page}); }
  void ServeInstead(const std::string& name, uint64_t page, std::string content) {
    instead_[{name, page}] = std::move(content);
  }

  Status ReadPage(const std::string& file, uint64_t page, char* out) override {
    reads.emplace_back(file, page);
    if (failing_.count({file, page}) != 0) return Status::Io(file + ": fake: EIO");
    auto it = instead_.find({file, page});
    const std::string& content = it != instead_.end() ? it->second : files_.PageOf(file, page);
    std::memcpy(out, content.data(), kPageSize);
    return Status::Ok();
  }

  std::vector<std::pair<std::string, uint64_t>> reads;

 private:
  FakeFiles& files_;
  std::set<std::pair<std::string, uint64_t>> failing_;
  std::map<std::pair<std::string, uint64_t>, std::string> instead_;
};

// An output page filled with a marker, to see whether Resolve wrote it.
std::string Untouched() { return std::string(kPageSize, '\x5a'); }

// --- PageSha256 ---

TEST(ContentDigestTest, PageSha256OfKnownPages) {
  EXPECT_EQ(Hex(Sha(ZeroPage())),
            "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7");
  EXPECT_EQ(Hex(Sha(std::string(kPageSize, 'a'))),
            "c93eee2d0db02f10acc7460d9576e122dcf8cd53c4bf8dfcae1b3e74ebcfff5a");
}

TEST(ContentDigestTest, PageSha256CoversEveryByteOfThePage) {
  std::string page = Page(1);
  const Sha256 before = Sha(page);
  page[kPageSize - 1] ^= 1;
  EXPECT_NE(Sha(page), before);
  page[kPageSize - 1] ^= 1;
  page[0] ^= 1;
  EXPECT_NE(Sha(page), before);
}

TEST(ContentDigestTest, CraftedPagesCollideInXxh3ButNotInSha256) {
  auto [a, b] = CollidingPages();
  ASSERT_NE(a, b);
  EXPECT_EQ(Xxh(a), Xxh(b));
  EXPECT_NE(Sha(a), Sha(b));
}

// --- ContentIndex::Build ---

TEST(ContentIndexTest, BuildIndexesEveryPageWithContentSortedAndLeavesZeroPagesOut) {
  FakeFiles files;
  files.AddFile("a", {Page(1), ZeroPage(), Page(2)});
  files.AddFile("b", {ZeroPage(), Page(3), Page(1), ZeroPage()});
  const ContentIndex index = ContentIndex::Build(files, 1000);

  std::vector<Entry> want = {
      {Xxh(Page(1)), 0, 0}, {Xxh(Page(2)), 0, 2}, {Xxh(Page(3)), 1, 1}, {Xxh(Page(1)), 1, 2}};
  std::sort(want.begin(), want.end(), [](const Entry& x, const Entry& y) {
    return std::tie(x.digest, x.file, x.page) < std::tie(y.digest, y.file, y.page);
  });
  EXPECT_EQ(index.entries(), want);
  EXPECT_EQ(index.files(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(index.bytes(), 16u * 4);
  EXPECT_FALSE(index.truncated());
  EXPECT_EQ(index.files_skipped(), 0u);
  EXPECT_GE(index.build_seconds(), 0.0);
}

TEST(ContentIndexTest, BuildStopsAtMaxEntriesInListOrder) {
  FakeFiles files;
  files.AddFile("a", {Page(1), Page(2), Page(3), Page(4)});
  files.AddFile("b", {Page(5), ZeroPage(), Page(6), Page(7)});
  files.AddFile("c", {Page(8)});

  const ContentIndex capped = ContentIndex::Build(files, 6);
  EXPECT_TRUE(capped.truncated());
  ASSERT_EQ(capped.entries().size(), 6u);
  std::set<std::pair<uint32_t, uint32_t>> got;
  for (const Entry& e : capped.entries()) got.insert({e.file, e.page});
  EXPECT_EQ(got, (std::set<std::pair<uint32_t, uint32_t>>{
                     {0, 0}, {0, 1}, {0, 2}, {0, 3}, {1, 0}, {1, 2}}));
  EXPECT_EQ(capped.bytes(), 16u * 6);
  EXPECT_EQ(files.digest_calls, 2);  // "c" is not even read

  const ContentIndex exact = ContentIndex::Build(files, 8);
  EXPECT_FALSE(exact.truncated());
  EXPECT_EQ(exact.entries().size(), 8u);
}

TEST(ContentIndexTest, AFileWhoseDigestsCannotBeReadIsSkipped) {
  FakeFiles files;
  files.AddFile("a", {Page(1)});
  files.AddFile("b", {Page(2)});
  files.AddFile("c", {Page(3)});
  files.FailDigests("b");
  const ContentIndex index = ContentIndex::Build(files, 100);
  EXPECT_EQ(index.files_skipped(), 1u);
  EXPECT_EQ(index.files().size(), 3u);
  std::set<uint32_t> indexed;
  for (const Entry& e : index.entries()) indexed.insert(e.file);
  EXPECT_EQ(indexed, (std::set<uint32_t>{0, 2}));

  FakeReader reader(files);
  char out[kPageSize];
  EXPECT_TRUE(index.Resolve(reader, Xxh(Page(3)), Sha(Page(3)), out, nullptr));
  EXPECT_FALSE(index.Resolve(reader, Xxh(Page(2)), Sha(Page(2)), out, nullptr));
}

TEST(ContentIndexTest, AFailingListGivesAnEmptyIndex) {
  FakeFiles files;
  files.AddFile("a", {Page(1)});
  files.FailList();
  const ContentIndex index = ContentIndex::Build(files, 100);
  EXPECT_TRUE(index.entries().empty());
  EXPECT_TRUE(index.files().empty());
  EXPECT_EQ(files.digest_calls, 0);
  FakeReader reader(files);
  char out[kPageSize];
  EXPECT_FALSE(index.Resolve(reader, Xxh(Page(1)), Sha(Page(1)), out, nullptr));
  EXPECT_TRUE(reader.reads.empty());
}

// A measurement as much as a test: 1,048,576 entries (4 GiB of guest memory with content) from
// 4 files of random digests.
TEST(ContentIndexTest, BuildsAMillionEntries) {
  class BigFiles final : public ContentFiles {
   public:
    Result<std::vector<std::string>> List() override {
      return std::vector<std::string>{"0", "1", "2", "3"};
    }
    Result<PageDigests> Digests(const std::string& file) override {
      std::mt19937_64 rng(std::stoul(file) + 1);
      std::vector<uint64_t> d(1 << 18);
      for (uint64_t& x : d) x = rng();
      return PageDigests::FromDense(d);
    }
  } files;
  const auto start = std::chrono::steady_clock::now();
  const ContentIndex index = ContentIndex::Build(files, uint64_t{1} << 30);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(index.entries().size(), uint64_t{1} << 20);
  EXPECT_EQ(index.bytes(), uint64_t{16} << 20);
  EXPECT_TRUE(std::is_sorted(index.entries().begin(), index.entries().end(),
                             [](const Entry& x, const Entry& y) { return x.digest < y.digest; }));
  EXPECT_LE(index.build_seconds(), seconds);
  std::printf("build of %zu entries: %.3f s (Build's own count: %.3f s)\n", index.entries().size(),
              seconds, index.build_seconds());
}

// --- ContentIndex::Resolve ---

TEST(ContentIndexTest, ResolveCopiesAPageWhoseContentMatchesTheOffer) {
  FakeFiles files;
  files.AddFile("a", {Page(1), Page(2)});
  files.AddFile("b", {Page(3)});
  const ContentIndex index = ContentIndex::Build(files, 100);
  FakeReader reader(files);
  std::string out = Untouched();
  ResolveStats st;
  ASSERT_TRUE(index.Resolve(reader, Xxh(Page(3)), Sha(Page(3)), out.data(), &st));
  EXPECT_EQ(out, Page(3));
  EXPECT_EQ(reader.reads, (std::vector<std::pair<std::string, uint64_t>>{{"b", 0}}));
  EXPECT_EQ(st.lookups, 1u);
  EXPECT_EQ(st.candidates, 1u);
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.stale + st.collisions + st.read_errors, 0u);
}

// A plan whose arrival would drop the VM's own file looks up the shared index without it: the
// file's entries of the digest are skipped without a read, and do not use up the candidates.
TEST(ContentIndexTest, ResolveLeavesTheExceptedFileOutWithoutReadingIt) {
  FakeFiles files;
  const int n = ContentIndex::kMaxCandidates + 3;
  files.AddFile("a", std::vector<std::string>(n, Page(7)));
  files.AddFile("b", {Page(1), Page(7)});
  files.AddFile("c", {Page(8)});
  const ContentIndex index = ContentIndex::Build(files, 100);
  const uint32_t a = index.FileNumber("a");
  ASSERT_NE(a, ContentIndex::kNoFile);
  EXPECT_EQ(index.FileNumber("nothing"), ContentIndex::kNoFile);
  FakeReader reader(files);
  std::string out = Untouched();
  ASSERT_TRUE(index.Resolve(reader, Xxh(Page(7)), Sha(Page(7)), out.data(), nullptr, a));
  EXPECT_EQ(out, Page(7));
  EXPECT_EQ(reader.reads, (std::vector<std::pair<std::string, uint64_t>>{{"b", 1}}));
  // Only the excepted file holds the content: a miss without a read.
  reader.reads.clear();
  EXPECT_FALSE(index.Resolve(reader, Xxh(Page(8)), Sha(Page(8)), out.data(), nullptr,
                             index.FileNumber("c")));
  EXPECT_TRUE(reader.reads.empty());
  // Without the exception the first file serves.
  ASSERT_TRUE(index.Resolve(reader, Xxh(Page(7)), Sha(Page(7)), out.data(), nullptr));
  EXPECT_EQ(reader.reads, (std::vector<std::pair<std::string, uint64_t>>{{"a", 0}}));
}

TEST(ContentIndexTest, AnUnknownDigestIsAMissWithoutARead) {
  FakeFiles files;
  files.AddFile("a", {Page(1)});
  const ContentIndex index = ContentIndex::Build(files, 100);
  FakeReader reader(files);
  std::string out = Untouched();
  ResolveStats st;
  EXPECT_FALSE(index.Resolve(reader, Xxh(Page(9)), Sha(Page(9)), out.data(), &st));
  EXPECT_FALSE(index.Resolve(reader, Xxh(ZeroPage()), Sha(ZeroPage()), out.data(), &st));
  EXPECT_TRUE(reader.reads.empty());
  EXPECT_EQ(out, Untouched());
  EXPECT_EQ(st.lookups, 2u);
  EXPECT_EQ(st.candidates, 0u);
  EXPECT_EQ(st.hits, 0u);
}

TEST(ContentIndexTest, APageRewrittenSinceItsDigestWasRecordedIsAStaleMiss) {
  FakeFiles files;
  files.AddFile("a", {Page(1), Page(2)});
  const ContentIndex index = ContentIndex::Build(files, 100);
  files.SetPage("a", 1, Page(7));  // the live VM wrote the page after the build
  FakeReader reader(files);
  std::string out = Untouched();
  ResolveStats st;
  EXPECT_FALSE(index.Resolve(reader, Xxh(Page(2)), Sha(Page(2)), out.data(), &st));
  EXPECT_EQ(out, Untouched());
  EXPECT_EQ(st.candidates, 1u);
  EXPECT_EQ(st.stale, 1u);
  EXPECT_EQ(st.collisions, 0u);
  EXPECT_EQ(st.hits, 0u);
}

// The index says page 0 of "liar" has the offer's digest, but its content is another page (a
// digests xattr that lies, or a page rewritten since): the XXH3 of what is read gives it away.
// The right content, at a later candidate, is still found.
TEST(ContentIndexTest, ACandidateWhoseRecordedDigestLiesIsMissedAndALaterRightOneFound) {
  const std::string wanted = Page(5);
  FakeFiles files;
  files.AddFile("liar", {Page(6)});
  files.LieAbout("liar", 0, Xxh(wanted));
  files.AddFile("good", {ZeroPage(), wanted});
  const ContentIndex index = ContentIndex::Build(files, 100);
  FakeReader reader(files);
  std::string out = Untouched();
  ResolveStats st;
  ASSERT_TRUE(index.Resolve(reader, Xxh(wanted), Sha(wanted), out.data(), &st));
  EXPECT_EQ(out, wanted);
  // "liar" is file 0: it was tried first.
  EXPECT_EQ(reader.reads,
            (std::vector<std::pair<std::string, uint64_t>>{{"liar", 0}, {"good", 1}}));
  EXPECT_EQ(st.stale, 1u);
  EXPECT_EQ(st.hits, 1u);

  // Without the right page the lie is a miss and nothing is written.
  FakeFiles only_liar;
  only_liar.AddFile("liar", {Page(6)});
  only_liar.LieAbout("liar", 0, Xxh(wanted));
  const ContentIndex lied = ContentIndex::Build(only_liar, 100);
  FakeReader liar_reader(only_liar);
  out = Untouched();
  EXPECT_FALSE(lied.Resolve(liar_reader, Xxh(wanted), Sha(wanted), out.data(), nullptr));
  EXPECT_EQ(out, Untouched());
}

// A real XXH3-64 collision (CollidingPages): a guest that holds page `evil` on this host and
// offers page `honest` from the source. The XXH3 of the bytes read matches; only the SHA-256
// tells them apart. The right content at a later candidate is still found.
TEST(ContentIndexTest, AnXxh3CollisionIsCaughtBySha256AndALaterRightCandidateFound) {
  auto [honest, evil] = CollidingPages();
  ASSERT_EQ(Xxh(honest), Xxh(evil));
  FakeFiles files;
  files.AddFile("attacker", {evil});
  files.AddFile("victim", {Page(1), honest});
  const ContentIndex index = ContentIndex::Build(files, 100);
  FakeReader reader(files);
  std::string out = Untouched();
  ResolveStats st;
  ASSERT_TRUE(index.Resolve(reader, Xxh(honest), Sha(honest), out.data(), &st));
  EXPECT_EQ(out, honest);
  EXPECT_EQ(reader.reads,
            (std::vector<std::pair<std::string, uint64_t>>{{"attacker", 0}, {"victim", 1}}));
  EXPECT_EQ(st.collisions, 1u);
  EXPECT_EQ(st.stale, 0u);
  EXPECT_EQ(st.hits, 1u);

  // Only the colliding page on the host: a miss, nothing written.
  FakeFiles only_evil;
  only_evil.AddFile("attacker", {evil});
  const ContentIndex evil_index = ContentIndex::Build(only_evil, 100);
  FakeReader evil_reader(only_evil);
  out = Untouched();
  ResolveStats st2;
  EXPECT_FALSE(evil_index.Resolve(evil_reader, Xxh(honest), Sha(honest), out.data(), &st2));
  EXPECT_EQ(out, Untouched());
  EXPECT_EQ(st2.collisions, 1u);
  EXPECT_EQ(st2.hits, 0u);
}

// The same through the reader: the page's content changes between the build and the read to a
// page that has the same XXH3 (the colliding twin), so only the SHA-256 can catch it.
TEST(ContentIndexTest, AReadThatReturnsAnXxh3TwinIsACollisionMiss) {
  auto [honest, evil] = CollidingPages();
  FakeFiles files;
  files.AddFile("a", {honest});
  const ContentIndex index = ContentIndex::Build(files, 100);
  FakeReader reader(files);
  reader.ServeInstead("a", 0, evil);
  std::string out = Untouched();
  ResolveStats st;
  EXPECT_FALSE(index.Resolve(reader, Xxh(honest), Sha(honest), out.data(), &st));
  EXPECT_EQ(out, Untouched());
  EXPECT_EQ(st.collisions, 1u);
  EXPECT_EQ(st.candidates, 1u);
}

TEST(ContentIndexTest, AtMostMaxCandidatesAreReadPerOffer) {
  const std::string wanted = Page(11);
  FakeFiles files;
  const int n = ContentIndex::kMaxCandidates + 2;
  for (int i = 0; i < n; ++i) files.AddFile("f" + std::to_string(i), {wanted});
  const ContentIndex index = ContentIndex::Build(files, 100);
  ASSERT_EQ(index.entries().size(), static_cast<size_t>(n));
  // The first kMaxCandidates copies were rewritten since; the later ones are still right.
  for (int i = 0; i < ContentIndex::kMaxCandidates; ++i) {
    files.SetPage("f" + std::to_string(i), 0, Page(100 + i));
  }
  FakeReader reader(files);
  std::string out = Untouched();
  ResolveStats st;
  EXPECT_FALSE(index.Resolve(reader, Xxh(wanted), Sha(wanted), out.data(), &st));
  EXPECT_EQ(reader.reads.size(), static_cast<size_t>(ContentIndex::kMaxCandidates));
  EXPECT_EQ(st.candidates, static_cast<uint64_t>(ContentIndex::kMaxCandidates));
  EXPECT_EQ(st.stale, static_cast<uint64_t>(ContentIndex::kMaxCandidates));
  EXPECT_EQ(out, Untouched());

  // With the second copy right, the search stops there.
  files.SetPage("f1", 0, wanted);
  FakeReader reader2(files);
  ASSERT_TRUE(index.Resolve(reader2, Xxh(wanted), Sha(wanted), out.data(), nullptr));
  EXPECT_EQ(out, wanted);
  EXPECT_EQ(reader2.reads.size(), 2u);
}

TEST(ContentIndexTest, AReadErrorIsAMissAndTheNextCandidateIsTried) {
  FakeFiles files;
  files.AddFile("stored", {Page(1)});
  files.AddFile("live", {Page(2), Page(1)});
  const ContentIndex index = ContentIndex::Build(files, 100);
  FakeReader reader(files);
  reader.FailRead("stored", 0);  // a stored page that is no longer the VM's: EIO
  std::string out = Untouched();
  ResolveStats st;
  ASSERT_TRUE(index.Resolve(reader, Xxh(Page(1)), Sha(Page(1)), out.data(), &st));
  EXPECT_EQ(out, Page(1));
  EXPECT_EQ(st.read_errors, 1u);
  EXPECT_EQ(st.candidates, 2u);
  EXPECT_EQ(st.hits, 1u);

  reader.FailRead("live", 1);
  out = Untouched();
  ResolveStats st2;
  EXPECT_FALSE(index.Resolve(reader, Xxh(Page(1)), Sha(Page(1)), out.data(), &st2));
  EXPECT_EQ(out, Untouched());
  EXPECT_EQ(st2.read_errors, 2u);
  EXPECT_EQ(st2.hits, 0u);
}

// --- ContentIndexCache ---

// What the cache's builds did, shared by the files the factory makes. List() can be held at a
// gate to keep a build running.
struct BuildLog {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = true;
  int factory_calls = 0;
  int in_list = 0;
  int max_in_list = 0;
  int lists_started = 0;
};

class GatedFiles final : public ContentFiles {
 public:
  GatedFiles(BuildLog& log, std::string page) : log_(log), page_(std::move(page)) {}
  Result<std::vector<std::string>> List() override {
    std::unique_lock<std::mutex> lock(log_.mu);
    ++log_.lists_started;
    ++log_.in_list;
    log_.max_in_list = std::max(log_.max_in_list, log_.in_list);
    log_.cv.notify_all();
    log_.cv.wait(lock, [&] { return log_.gate_open; });
    --log_.in_list;
    return std::vector<std::string>{"a"};
  }
  Result<PageDigests> Digests(const std::string&) override {
    return PageDigests::FromDense(std::vector<uint64_t>{Xxh(page_)});
  }

 private:
  BuildLog& log_;
  std::string page_;
};

ContentIndexCache::FilesFactory FactoryFor(BuildLog& log) {
  return [&log]() -> std::unique_ptr<ContentFiles> {
    int n;
    {
      std::lock_guard<std::mutex> lock(log.mu);
      n = ++log.factory_calls;
    }
    return std::make_unique<GatedFiles>(log, Page(static_cast<uint64_t>(n)));
  };
}

// A clock the test moves.
struct TestClock {
  std::atomic<int64_t> ms{1'000'000};
  ContentIndexCache::Clock Fn() {
    return [this] {
      return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms.load()));
    };
  }
};

// Starts `n` threads calling Get while the build is held at the gate, checks that exactly one
// build started and that the cache's mutex is free meanwhile, opens the gate, and returns what
// the threads got.
std::vector<std::shared_ptr<const ContentIndex>> GetConcurrently(ContentIndexCache& cache,
                                                                 BuildLog& log, int n) {
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.gate_open = false;
  }
  const int started_before = log.lists_started;
  std::vector<std::shared_ptr<const ContentIndex>> got(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([&, i] { got[i] = cache.Get(); });
  {
    std::unique_lock<std::mutex> lock(log.mu);
    EXPECT_TRUE(log.cv.wait_for(lock, std::chrono::seconds(10), [&] {
      return log.lists_started > started_before;
    })) << "no build started";
  }
  // Time for the other threads to reach Get and, if the cache let them, start builds too.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The build does not hold the cache's mutex: builds() answers while it runs.
  auto builds = std::async(std::launch::async, [&] { return cache.builds(); });
  EXPECT_EQ(builds.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.gate_open = true;
  }
  log.cv.notify_all();
  for (std::thread& t : threads) t.join();
  return got;
}

TEST(ContentIndexCacheTest, ConcurrentCallersShareOneBuild) {
  BuildLog log;
  TestClock clock;
  ContentIndexCache cache(FactoryFor(log), 100, std::chrono::seconds(60), clock.Fn());
  const auto got = GetConcurrently(cache, log, 8);
  ASSERT_NE(got[0], nullptr);
  for (const auto& index : got) EXPECT_EQ(index, got[0]);
  EXPECT_EQ(got[0]->entries().size(), 1u);
  EXPECT_EQ(log.factory_calls, 1);
  EXPECT_EQ(log.max_in_list, 1);
  EXPECT_EQ(cache.builds(), 1u);
}

TEST(ContentIndexCacheTest, ReusesTheIndexWithinMaxAgeAndRebuildsAfterIt) {
  BuildLog log;
  TestClock clock;
  ContentIndexCache cache(FactoryFor(log), 100, std::chrono::seconds(60), clock.Fn());
  const auto first = cache.Get();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(cache.builds(), 1u);

  clock.ms += 59'999;
  EXPECT_EQ(cache.Get(), first);
  EXPECT_EQ(cache.builds(), 1u);
  EXPECT_EQ(log.factory_calls, 1);

  clock.ms += 1;
  const auto second = cache.Get();
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second, first);
  EXPECT_EQ(cache.builds(), 2u);
  EXPECT_EQ(log.factory_calls, 2);
  // The new build read the files again (the factory's second files hold another page).
  EXPECT_EQ(second->entries().at(0).digest, Xxh(Page(2)));
  EXPECT_EQ(cache.Get(), second);
}

TEST(ContentIndexCacheTest, ConcurrentCallersOfAStaleIndexShareOneRebuild) {
  BuildLog log;
  TestClock clock;
  ContentIndexCache cache(FactoryFor(log), 100, std::chrono::seconds(60), clock.Fn());
  const auto first = cache.Get();
  clock.ms += 60'000;
  const auto got = GetConcurrently(cache, log, 8);
  for (const auto& index : got) {
    EXPECT_EQ(index, got[0]);
    EXPECT_NE(index, first);
  }
  EXPECT_EQ(log.factory_calls, 2);
  EXPECT_EQ(log.max_in_list, 1);
  EXPECT_EQ(cache.builds(), 2u);
}

// The age counts from the start of the build: a build that takes longer than max_age still
// serves the callers that waited for it, and the next Get builds again.
TEST(ContentIndexCacheTest, WaitersGetTheBuildTheyWaitedForEvenIfItTookLongerThanMaxAge) {
  BuildLog log;
  TestClock clock;
  ContentIndexCache cache(FactoryFor(log), 100, std::chrono::seconds(1), clock.Fn());
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.gate_open = false;
  }
  std::shared_ptr<const ContentIndex> a, b;
  std::thread ta([&] { a = cache.Get(); });
  {
    std::unique_lock<std::mutex> lock(log.mu);
    EXPECT_TRUE(log.cv.wait_for(lock, std::chrono::seconds(10), [&] {
      return log.lists_started == 1;
    })) << "no build started";
  }
  std::thread tb([&] { b = cache.Get(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // tb waits for the build
  clock.ms += 5'000;                                            // the build "took" 5 s
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.gate_open = true;
  }
  log.cv.notify_all();
  ta.join();
  tb.join();
  EXPECT_EQ(a, b);
  EXPECT_EQ(log.factory_calls, 1);
  EXPECT_NE(cache.Get(), a);  // already too old for a new caller
  EXPECT_EQ(log.factory_calls, 2);
}

// serve --content-index-refresh: a refresh builds the next index while Get goes on serving the
// current one without waiting, and then Get serves the new one.
TEST(ContentIndexCacheTest, ARefreshKeepsServingTheCurrentIndexUntilItsSuccessorIsBuilt) {
  BuildLog log;
  TestClock clock;
  ContentIndexCache cache(FactoryFor(log), 100, std::chrono::seconds(60), clock.Fn());
  const auto first = cache.Get();
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.gate_open = false;
  }
  std::thread refresher([&] { cache.Refresh(); });
  {
    std::unique_lock<std::mutex> lock(log.mu);
    EXPECT_TRUE(log.cv.wait_for(lock, std::chrono::seconds(10), [&] {
      return log.lists_started == 2;
    })) << "the refresh did not start a build";
  }
  EXPECT_EQ(cache.Get(), first) << "served at once, while the refresh builds";
  cache.Refresh();  // a build runs already: returns at once
  {
    std::lock_guard<std::mutex> lock(log.mu);
    log.gate_open = true;
  }
  log.cv.notify_all();
  refresher.join();
  const auto second = cache.Get();
  EXPECT_NE(second, first);
  EXPECT_EQ(second->entries().at(0).digest, Xxh(Page(2)));
  EXPECT_EQ(log.factory_calls, 2);
  EXPECT_EQ(cache.builds(), 2u);
}

TEST(ContentIndexCacheTest, AFactoryWithoutFilesGivesAnEmptyIndex) {
  TestClock clock;
  ContentIndexCache cache([] { return std::unique_ptr<ContentFiles>(); }, 100,
                          std::chrono::seconds(60), clock.Fn());
  const auto index = cache.Get();
  ASSERT_NE(index, nullptr);
  EXPECT_TRUE(index->entries().empty());
}

// --- The mount adapters on plain files (no memfs) ---

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
  ASSERT_TRUE(f.good()) << path;
}

TEST(ContentFilesMountTest, ListFindsTheRamFileOfEveryUuidDirectoryAndIgnoresOtherNames) {
  testing::TempDirForTest dir;
  namespace fs = std::filesystem;
  const std::string vm1 = Uuid::Random().ToString();
  const std::string vm2 = Uuid::Random().ToString();
  std::string vm_upper = Uuid::Random().ToString();
  std::transform(vm_upper.begin(), vm_upper.end(), vm_upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  const std::string no_ram = Uuid::Random().ToString();
  const std::string ram_is_dir = Uuid::Random().ToString();
  const std::string plain_file = Uuid::Random().ToString();
  for (const std::string& d : {vm1, vm2, vm_upper, no_ram, ram_is_dir}) {
    fs::create_directory(dir / d);
  }
  WriteFile(dir / vm1 + "/ram", Page(1));
  WriteFile(dir / vm2 + "/ram", "");
  WriteFile(dir / vm_upper + "/ram", Page(2));
  WriteFile(dir / no_ram + "/other", Page(3));
  fs::create_directory(dir / ram_is_dir + "/ram");
  WriteFile(dir / plain_file, Page(4));
  fs::create_directory(dir / "not-a-uuid");
  WriteFile(dir / "not-a-uuid/ram", Page(5));
  fs::create_directory(dir / (vm1 + "x"));
  WriteFile(dir / (vm1 + "x") + "/ram", Page(6));

  MountContentFiles files(dir.path());
  Result<std::vector<std::string>> listed = files.List();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::string> want = {dir / vm1 + "/ram", dir / vm2 + "/ram", dir / vm_upper + "/ram"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*listed, want);
}

TEST(ContentFilesMountTest, VmOfAFileIsItsDirectorysUuid) {
  const std::string vm = "0f8e6d2c-1b3a-4c5d-9e7f-a1b2c3d4e5f6";
  EXPECT_EQ(MountContentFiles::VmOf("/mnt/memfs/" + vm + "/ram"), Uuid::Parse(vm).value());
  EXPECT_EQ(MountContentFiles::VmOf("/mnt/memfs/not-a-uuid/ram"), std::nullopt);
  EXPECT_EQ(MountContentFiles::VmOf("ram"), std::nullopt);
}

TEST(ContentFilesMountTest, ListOfAMissingRootIsAnError) {
  testing::TempDirForTest dir;
  MountContentFiles files(dir / "gone");
  Result<std::vector<std::string>> listed = files.List();
  ASSERT_FALSE(listed.ok());
  EXPECT_NE(listed.status().message().find(dir / "gone"), std::string::npos);
}

// A plain file has no user.mkd.digests: the error names the file (Build logs it and skips it).
TEST(ContentFilesMountTest, DigestsOfAFileWithoutTheXattrNameTheFile) {
  testing::TempDirForTest dir;
  WriteFile(dir / "ram", Page(1));
  MountContentFiles files(dir.path());
  Result<PageDigests> d = files.Digests(dir / "ram");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(dir / "ram"), std::string::npos) << d.status().ToString();
  Result<PageDigests> missing = files.Digests(dir / "nothing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir / "nothing"), std::string::npos);
}

TEST(ContentFilesMountTest, MountPageReaderReadsPagesAndKeepsAtMostKMaxOpenFiles) {
  testing::TempDirForTest dir;
  WriteFile(dir / "a", Page(1) + Page(2));
  MountPageReader reader;
  std::string out(kPageSize, '\0');
  ASSERT_TRUE(reader.ReadPage(dir / "a", 1, out.data()).ok());
  EXPECT_EQ(out, Page(2));
  ASSERT_TRUE(reader.ReadPage(dir / "a", 0, out.data()).ok());
  EXPECT_EQ(out, Page(1));
  EXPECT_EQ(reader.open_files(), 1u);
  EXPECT_FALSE(reader.ReadPage(dir / "a", 2, out.data()).ok());  // beyond the end: a miss
  EXPECT_FALSE(reader.ReadPage(dir / "missing", 0, out.data()).ok());

  const size_t n = MountPageReader::kMaxOpen + 6;
  for (size_t i = 0; i < n; ++i) {
    const std::string path = dir / ("f" + std::to_string(i));
    WriteFile(path, Page(1000 + i));
    ASSERT_TRUE(reader.ReadPage(path, 0, out.data()).ok());
    EXPECT_EQ(out, Page(1000 + i));
    EXPECT_LE(reader.open_files(), MountPageReader::kMaxOpen);
  }
  EXPECT_EQ(reader.open_files(), MountPageReader::kMaxOpen);
  // The least recently used were closed; an evicted file opens again.
  ASSERT_TRUE(reader.ReadPage(dir / "a", 1, out.data()).ok());
  EXPECT_EQ(out, Page(2));
}

// Resolve through the real reader on plain files, end to end.
TEST(ContentFilesMountTest, ResolveThroughMountPageReader) {
  testing::TempDirForTest dir;
  WriteFile(dir / "a", Page(1) + Page(2));
  FakeFiles files;  // only for the digests; the reader reads the real files
  files.AddFile(dir / "a", {Page(1), Page(2)});
  const ContentIndex index = ContentIndex::Build(files, 100);
  MountPageReader reader;
  std::string out = Untouched();
  ASSERT_TRUE(index.Resolve(reader, Xxh(Page(2)), Sha(Page(2)), out.data(), nullptr));
  EXPECT_EQ(out, Page(2));
  WriteFile(dir / "a", Page(1) + Page(9));  // rewritten since
  out = Untouched();
  ResolveStats st;
  EXPECT_FALSE(index.Resolve(reader, Xxh(Page(2)), Sha(Page(2)), out.data(), &st));
  EXPECT_EQ(st.stale, 1u);
  EXPECT_EQ(out, Untouched());
}

}  // namespace
}  // namespace mkd::migrate
