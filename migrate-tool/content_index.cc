// The host-wide index of pages by content and its cache (see content_index.h). Touches nothing
// itself: the files and pages come through the ContentFiles and PageReader ports.
#include "migrate-tool/content_index.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <span>
#include <utility>

#include "genstore/generation.h"

namespace mkd::migrate {

static_assert(kMaxPages <= uint64_t{std::numeric_limits<uint32_t>::max()} + 1,
              "Entry::page holds a page index in 32 bits");

ContentIndex ContentIndex::Build(ContentFiles& files, uint64_t max_entries) {
  const auto start = std::chrono::steady_clock::now();
  ContentIndex index;
  Result<std::vector<std::string>> listed = files.List();
  if (!listed.ok()) {
    spdlog::warn("content index: cannot list the files to index ({}); no page is reused by content",
                 listed.status().ToString());
  } else {
    index.files_ = std::move(listed).value();
  }
  const uint64_t zero = ZeroPageDigest();
  const uint64_t max_files = std::numeric_limits<uint32_t>::max();
  for (uint64_t f = 0; f < index.files_.size() && !index.truncated_; ++f) {
    const std::string& name = index.files_[f];
    if (f >= max_files) {  // Entry::file is 32 bits; no host has that many VMs
      ++index.files_skipped_;
      continue;
    }
    Result<PageDigests> digests = files.Digests(name);
    if (!digests.ok()) {
      spdlog::warn("content index: {} left out: {}", name, digests.status().ToString());
      ++index.files_skipped_;
      continue;
    }
    if (digests->pages() > kMaxPages) {
      spdlog::warn("content index: {} left out: {} pages, more than a block has ({})", name,
                   digests->pages(), kMaxPages);
      ++index.files_skipped_;
      continue;
    }
    digests->ForEachExtent([&](uint64_t first, std::span<const uint64_t> d) {
      for (uint64_t i = 0; i < d.size() && !index.truncated_; ++i) {
        if (d[i] == zero) continue;  // PageDigests keeps none; a port might
        if (index.entries_.size() >= max_entries) {
          index.truncated_ = true;
          break;
        }
        index.entries_.push_back(
            Entry{d[i], static_cast<uint32_t>(f), static_cast<uint32_t>(first + i)});
      }
    });
  }
  std::sort(index.entries_.begin(), index.entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.digest != b.digest) return a.digest < b.digest;
    if (a.file != b.file) return a.file < b.file;
    return a.page < b.page;
  });
  index.entries_.shrink_to_fit();
  index.build_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (index.truncated_) {
    spdlog::warn(
        "content index: stopped at {} pages (the cap); pages after them are not reused by "
        "content",
        index.entries_.size());
  }
  return index;
}

bool ContentIndex::Resolve(PageReader& reader, uint64_t digest, const Sha256& sha, char* out,
                           ResolveStats* stats, uint32_t except_file) const {
  ResolveStats ignored;
  ResolveStats& st = stats != nullptr ? *stats : ignored;
  ++st.lookups;
  // Read into a buffer of our own: `out` gets only a page that passed both checks.
  alignas(64) char page[kPageSize];
  auto it = std::ranges::lower_bound(entries_, digest, {}, &Entry::digest);
  for (int tried = 0; it != entries_.end() && it->digest == digest && tried < kMaxCandidates;
       ++it, ++tried) {
    if (it->file == except_file) {
      // Sorted by (digest, file, page): the file's entries of this digest are neighbours.
      it = std::partition_point(it, entries_.end(), [&](const Entry& e) {
        return e.digest == digest && e.file == except_file;
      });
      if (it == entries_.end() || it->digest != digest) break;
    }
    ++st.candidates;
    const auto t0 = std::chrono::steady_clock::now();
    const bool read = reader.ReadPage(files_[it->file], it->page, page).ok();
    const auto t1 = std::chrono::steady_clock::now();
    st.read_seconds += std::chrono::duration<double>(t1 - t0).count();
    if (!read) {
      ++st.read_errors;
      continue;
    }
    const bool same_digest = PageDigest(page) == digest;
    const bool same_sha = same_digest && PageSha256(page) == sha;
    st.hash_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    if (!same_digest) {
      ++st.stale;
      continue;
    }
    if (!same_sha) {
      ++st.collisions;
      continue;
    }
    std::memcpy(out, page, kPageSize);
    ++st.hits;
    return true;
  }
  return false;
}

uint32_t ContentIndex::FileNumber(std::string_view file) const {
  const auto it = std::ranges::find(files_, file);
  return it == files_.end() ? kNoFile : static_cast<uint32_t>(it - files_.begin());
}

ContentIndexCache::ContentIndexCache(FilesFactory factory, uint64_t max_entries,
                                     std::chrono::steady_clock::duration max_age, Clock clock)
    : factory_(std::move(factory)),
      max_entries_(max_entries),
      max_age_(max_age),
      clock_(std::move(clock)) {}

uint64_t ContentIndexCache::builds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return builds_;
}

std::shared_ptr<const ContentIndex> ContentIndexCache::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // A fresh index is served also while a refresh builds its successor.
    if (current_ != nullptr && clock_() - built_at_ < max_age_) return current_;
    if (!building_) break;
    const uint64_t seen = builds_;
    built_.wait(lock, [&] { return !building_; });
    if (builds_ != seen && current_ != nullptr) return current_;
    // That build ended without an index (it threw): try again.
  }
  // The stale index is of no use to anyone calling Get now (they wait for the new one).
  return BuildNow(lock, /*keep_current=*/false);
}

void ContentIndexCache::Refresh() {
  std::unique_lock<std::mutex> lock(mu_);
  if (building_) return;
  BuildNow(lock, /*keep_current=*/true);
}

std::shared_ptr<const ContentIndex> ContentIndexCache::BuildNow(std::unique_lock<std::mutex>& lock,
                                                                bool keep_current) {
  building_ = true;
  const bool first = builds_ == 0;
  const auto started = clock_();
  // Dropped outside the lock: freeing a large index takes a while.
  std::shared_ptr<const ContentIndex> stale = keep_current ? nullptr : std::move(current_);
  lock.unlock();
  stale.reset();

  // Whatever happens in the build (bad_alloc), waiters are woken.
  struct EndBuild {
    ContentIndexCache* cache;
    bool done = false;
    ~EndBuild() {
      if (done) return;
      {
        std::lock_guard<std::mutex> l(cache->mu_);
        cache->building_ = false;
      }
      cache->built_.notify_all();
    }
  } end{this};

  std::unique_ptr<ContentFiles> files = factory_();
  if (files == nullptr) spdlog::warn("content index: no files to index; an empty index");
  auto index = std::make_shared<const ContentIndex>(
      files != nullptr ? ContentIndex::Build(*files, max_entries_) : ContentIndex());
  // A refresh every few seconds would fill the log: only the first one is at info.
  spdlog::log(keep_current && !first ? spdlog::level::debug : spdlog::level::info,
              "content index{}: {} pages of {} files ({} left out), {:.1f} MiB, {:.3f} s",
              keep_current ? " refreshed" : "", index->entries().size(), index->files().size(),
              index->files_skipped(), static_cast<double>(index->bytes()) / (1 << 20),
              index->build_seconds());
  {
    std::lock_guard<std::mutex> l(mu_);
    stale = std::move(current_);  // the index a refresh replaces (dropped below, unlocked)
    current_ = index;
    built_at_ = started;
    ++builds_;
    building_ = false;
  }
  end.done = true;
  built_.notify_all();
  return index;
}

}  // namespace mkd::migrate
