// The destination's answer to one OFFER (reuse by content, docs/migrate.md): each offered page
// is looked up by content on this host (IncomingContent), the ones found are handed to the
// caller, and the rest make the NEED payload. Shared by an arrival (incoming.cc: it stores what
// is found) and a plan's answer (plan_answer.cc: it only counts). Touches nothing but `content`
// and what the callback does; thread-compatible.
#ifndef MKD_MIGRATE_TOOL_OFFER_ANSWER_H_
#define MKD_MIGRATE_TOOL_OFFER_ANSWER_H_

#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "migrate-tool/incoming_ports.h"
#include "migrate-tool/wire.h"

namespace mkd::migrate {

// Called for each entry whose content this host holds, with that content (kPageSize bytes, as
// read and checked by IncomingContent::Find). An error ends the answer with it.
using TakeOfferedPage = std::function<Status(const OfferEntry& entry, std::string_view page)>;

// Looks up every entry of `offer` in order; returns the NEED frame's payload naming the entries
// not found (EncodeNeed), or the first error of `take`.
Result<std::string> AnswerOffer(const OfferFrame& offer, IncomingContent& content,
                                const TakeOfferedPage& take);

}  // namespace mkd::migrate

#endif  // MKD_MIGRATE_TOOL_OFFER_ANSWER_H_
