// ContentOffers (content_offers.h): offers awaiting their NEED, and whether offering pays.
// Touches nothing.
#include "migrate-tool/content_offers.h"

#include <utility>

namespace mkd::migrate {

void ContentOffers::Offered(std::vector<uint64_t> pages) {
  offered_ += pages.size();
  pending_pages_ += pages.size();
  ++offers_;
  pending_.push_back(std::move(pages));
}

std::string ContentOffers::Offer(uint32_t block, const std::vector<OfferEntry>& entries) {
  std::vector<uint64_t> pages;
  pages.reserve(entries.size());
  for (const OfferEntry& e : entries) pages.push_back(e.page);
  Offered(std::move(pages));
  return EncodeOffer(block, entries);
}

Status ContentOffers::Answer(uint32_t offered, const std::vector<uint64_t>& needed,
                             const std::string& peer, std::vector<uint64_t>* taken) {
  if (pending_.empty()) {
    return Status::InvalidArgument(peer + " sent a NEED for no OFFER: a protocol error of " + peer +
                                   "'s mkd-migrate serve (are both hosts' versions equal?)");
  }
  const std::vector<uint64_t>& offer = pending_.front();
  if (offered != offer.size()) {
    return Status::InvalidArgument(peer + "'s NEED answers an OFFER of " + std::to_string(offered) +
                                   " pages, but the oldest one had " +
                                   std::to_string(offer.size()));
  }
  taken->clear();
  size_t n = 0;  // needed pages matched so far (both lists are strictly increasing)
  for (uint64_t page : offer) {
    if (n < needed.size() && needed[n] == page) {
      ++n;
    } else {
      if (n < needed.size() && needed[n] < page) break;  // a needed page that was not offered
      taken->push_back(page);
    }
  }
  if (n != needed.size()) {
    return Status::InvalidArgument(peer + " asked for page " + std::to_string(needed[n]) +
                                   ", which was not in the OFFER its NEED answers");
  }
  pending_pages_ -= offer.size();
  pending_.pop_front();
  taken_ += taken->size();
  needed_ += needed.size();
  answered_ += offered;
  if (offering_ && answered_ >= kProbePages && taken_ * kMinTakenRatio < answered_) {
    offering_ = false;
    stopped_ = "the destination took " + std::to_string(taken_) + " of " +
               std::to_string(answered_) + " pages offered: less than 1 in " +
               std::to_string(kMinTakenRatio) + ", so the rest went as pages";
  }
  return Status::Ok();
}

}  // namespace mkd::migrate
