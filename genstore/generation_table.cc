// GenerationTable: dirty application, invalidation and the provisional commit/abort protocol.
#include "genstore/generation_table.h"

#include <algorithm>
#include <string>

#include "base/check.h"
#include "genstore/huge_pages.h"

namespace mkd {

GenerationTable::GenerationTable(uint64_t pages) : gens_(pages, kGenNeverWritten) {
  MKD_CHECK(pages <= kMaxPages);
}

GenerationTable GenerationTable::FromGenerations(std::vector<Generation> gens) {
  MKD_CHECK(gens.size() <= kMaxPages);
  GenerationTable t;
  t.gens_ = std::move(gens);
  return t;
}

std::span<Generation> GenerationTable::ResetForOverwrite(uint64_t pages) {
  MKD_CHECK(pages <= kMaxPages);
  if (gens_.capacity() < pages) {
    std::vector<Generation> fresh;
    fresh.reserve(pages);
    internal::AdviseHugePages(fresh.data(), pages * sizeof(Generation));
    gens_ = std::move(fresh);
  }
  gens_.resize(pages);
  provisional_ = PageBitmap();
  pending_ = {};
  return gens_;
}

Status GenerationTable::ApplyDirty(const PageBitmap& dirty, Epoch epoch) {
  if (dirty.pages() != pages()) {
    return Status::InvalidArgument("dirty set has " + std::to_string(dirty.pages()) +
                                   " pages but the table has " + std::to_string(pages()));
  }
  if (!IsValidEpoch(epoch)) {
    return Status::InvalidArgument("epoch " + std::to_string(epoch) +
                                   " is not valid (must be 1..4294967294)");
  }
  if (has_provisional()) {
    return Status::FailedPrecondition(
        "guest writes applied to an incarnation that is still receiving a migration "
        "(commit or abort it first)");
  }
  dirty.ForEachRun([&](uint64_t first, uint64_t count) {
    std::fill_n(gens_.begin() + static_cast<std::ptrdiff_t>(first), count, epoch);
  });
  return Status::Ok();
}

Status GenerationTable::Invalidate(uint64_t first, uint64_t count) {
  if (first > pages() || count > pages() - first) {
    return Status::OutOfRange("pages " + std::to_string(first) + "+" + std::to_string(count) +
                              " are outside a table of " + std::to_string(pages()) + " pages");
  }
  std::fill_n(gens_.begin() + static_cast<std::ptrdiff_t>(first), count, kGenInvalid);
  if (provisional_.pages() != 0) provisional_.ClearRange(first, count);
  return Status::Ok();
}

Status GenerationTable::SetProvisional(uint64_t page, Generation gen) {
  if (page >= pages()) {
    return Status::OutOfRange("page " + std::to_string(page) + " is outside a table of " +
                              std::to_string(pages()) + " pages");
  }
  if (provisional_.pages() == 0) {
    provisional_ = PageBitmap(pages());
    pending_.assign(pages(), kGenInvalid);
  }
  // The page's old content is being overwritten: from now on it is not trustworthy until commit.
  gens_[page] = kGenInvalid;
  pending_[page] = gen;
  provisional_.Set(page);
  return Status::Ok();
}

void GenerationTable::CommitProvisional() {
  if (provisional_.pages() == 0) return;
  provisional_.ForEachSet([&](uint64_t page) { gens_[page] = pending_[page]; });
  provisional_ = PageBitmap();
  pending_ = {};
}

void GenerationTable::AbortProvisional() {
  if (provisional_.pages() == 0) return;
  // gens_ already holds kGenInvalid for every provisional page; dropping the pending values is
  // the whole abort.
  provisional_.ForEachSet([&](uint64_t page) { MKD_CHECK(gens_[page] == kGenInvalid); });
  provisional_ = PageBitmap();
  pending_ = {};
}

bool GenerationTable::operator==(const GenerationTable& other) const {
  if (gens_ != other.gens_) return false;
  if (has_provisional() != other.has_provisional()) return false;
  if (!has_provisional()) return true;
  if (!(provisional_ == other.provisional_)) return false;
  bool same = true;
  provisional_.ForEachSet([&](uint64_t p) { same = same && pending_[p] == other.pending_[p]; });
  return same;
}

}  // namespace mkd
