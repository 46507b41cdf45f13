// DirtyLog: per-consumer views of a block's dirty-log syncs (see dirty_log.h).
#include "memfs/dirty_log.h"

#include <algorithm>

namespace mkd::memfs {

Status DirtyLog::ValidateName(std::string_view name) {
  if (name.empty()) return Status::Ok();
  const bool ok = name.size() <= kMaxNameLength && name[0] >= 'a' && name[0] <= 'z' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                  });
  if (ok) return Status::Ok();
  return Status::InvalidArgument("dirty-log consumer '" + std::string(name) +
                                 "': 1-32 characters of [a-z0-9-], starting with a letter");
}

DirtyLog::Delivery DirtyLog::Deliver(const std::string& consumer, const PageBitmap& taken) {
  Delivery d;
  auto it = consumers_.find(consumer);
  if (it == consumers_.end() || it->second.pending.pages() != taken.pages()) {
    if (it == consumers_.end() && consumers_.size() >= kMaxConsumers) {
      auto oldest = std::min_element(consumers_.begin(), consumers_.end(), [](auto& a, auto& b) {
        return a.second.last_use < b.second.last_use;
      });
      consumers_.erase(oldest);
    }
    it = consumers_.insert_or_assign(consumer, Consumer{PageBitmap(taken.pages()), {}, 0}).first;
    d.new_consumer = true;
  }
  for (auto& [name, c] : consumers_) {
    if (&c != &it->second && c.pending.pages() == taken.pages()) c.pending.Or(taken);
  }
  Consumer& me = it->second;
  d.pages = std::move(me.pending);
  d.pages.Or(taken);
  me.pending = PageBitmap(taken.pages());
  me.last = d.pages;
  me.last_use = ++clock_;
  return d;
}

const PageBitmap* DirtyLog::Last(const std::string& consumer) const {
  auto it = consumers_.find(consumer);
  return it == consumers_.end() ? nullptr : &it->second.last;
}

}  // namespace mkd::memfs
