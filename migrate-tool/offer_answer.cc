// The destination's answer to one OFFER (see offer_answer.h).
#include "migrate-tool/offer_answer.h"

#include <vector>

namespace mkd::migrate {

Result<std::string> AnswerOffer(const OfferFrame& offer, IncomingContent& content,
                                const TakeOfferedPage& take) {
  std::vector<uint64_t> needed;
  std::string page(kPageSize, '\0');
  for (const OfferEntry& e : offer.entries) {
    if (content.Find(e.digest, e.sha256, page.data())) {
      MKD_RETURN_IF_ERROR(take(e, page));
    } else {
      needed.push_back(e.page);
    }
  }
  return EncodeNeed(offer.block, static_cast<uint32_t>(offer.entries.size()), needed);
}

}  // namespace mkd::migrate
