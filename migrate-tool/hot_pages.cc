// Which dirty pages of a pre-copy round wait for the pause (see hot_pages.h).
#include "migrate-tool/hot_pages.h"

#include <utility>

namespace mkd::migrate {

void HotPages::Seed(const PageBitmap& written) {
  prev_ = written;
  first_ = false;
}

PageBitmap HotPages::Round(const PageBitmap& dirty, uint64_t max_held) {
  // Written again after being written in the last round or held: hot.
  PageBitmap hot = prev_;
  hot.Or(held_).And(dirty);
  if (first_ || hot.Count() > max_held) hot.ClearAll();
  first_ = false;
  // Everything not sent yet, but the hot pages: the held ones that cooled off go now.
  PageBitmap send = dirty;
  send.Or(held_).AndNot(hot);
  held_ = std::move(hot);
  prev_ = dirty;
  return send;
}

}  // namespace mkd::migrate
