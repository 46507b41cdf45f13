// Budget: stored memory against --budget, and the eviction order (see budget.h).
#include "memfs/budget.h"

#include <algorithm>

#include "genstore/generation.h"

namespace mkd::memfs {

uint64_t Budget::pages() const { return bytes_ / kPageSize; }

uint64_t Budget::PagesOver(const std::vector<StoredUsage>& stored) const {
  if (unlimited()) return 0;
  uint64_t held = 0;
  for (const StoredUsage& s : stored) held += s.resident_pages;
  return held > pages() ? held - pages() : 0;
}

std::vector<size_t> Budget::EvictionOrder(const std::vector<StoredUsage>& stored) {
  std::vector<size_t> order;
  for (size_t i = 0; i < stored.size(); ++i) {
    if (!stored[i].open_for_writing) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&stored](size_t a, size_t b) {
    return stored[a].left_unix_ms < stored[b].left_unix_ms;
  });
  return order;
}

uint64_t Budget::EvictInOrder(const std::vector<size_t>& order, uint64_t pages,
                              const std::function<uint64_t(size_t, uint64_t)>& evict) {
  uint64_t freed = 0;
  for (size_t i : order) {
    if (freed >= pages) break;
    freed += evict(i, pages - freed);
  }
  return freed;
}

}  // namespace mkd::memfs
