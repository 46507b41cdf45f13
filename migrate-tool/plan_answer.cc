// The destination's answer to PLAN (see plan_answer.h).
#include "migrate-tool/plan_answer.h"

#include <spdlog/spdlog.h>

#include "genstore/table_codec.h"
#include "migrate-tool/incoming.h"
#include "migrate-tool/offer_answer.h"

namespace mkd::migrate {

Result<PlanAnswer> DecidePlan(const Hello& hello, IncomingHost& host) {
  MKD_ASSIGN_OR_RETURN(qemuconfig::VmDefinition def, DefinitionForArrival(hello, host));
  const uint64_t pages = hello.blocks[0].pages;
  const Epoch arriving = hello.epoch + 1;  // the epoch the VM would run in here
  if (host.QemuFor(def)->Running()) {
    return Status::FailedPrecondition("VM " + def.name + " runs on this host");
  }
  std::unique_ptr<IncomingMemfs> memfs = host.MemfsFor(def);
  // What an arrival without a base starts from: a new file, every page never written.
  const auto fresh = [&](std::string why) {
    return PlanAnswer{def, EncodeTable({hello.vm, "ram", arriving, 0}, GenerationTable(pages)),
                      std::move(why)};
  };
  MKD_ASSIGN_OR_RETURN(bool has_ram, memfs->HasRam());
  if (!has_ram) return fresh("no memory of VM " + def.name + " here: nothing to reuse");
  MKD_ASSIGN_OR_RETURN(std::unique_ptr<IncomingRam> ram, memfs->OpenRam());
  MKD_ASSIGN_OR_RETURN(RamFileSummary s, ram->Summary());
  if (s.state != "stored") {
    return Status::FailedPrecondition("VM " + def.name + "'s memory here is " + s.state +
                                      " (it runs or arrives here)");
  }
  if (s.pages != pages) {
    return Status::FailedPrecondition("VM " + def.name + "'s stored memory here has " +
                                      std::to_string(s.pages) + " pages, the source's " +
                                      std::to_string(pages));
  }
  if (s.lineage != hello.lineage) {
    return fresh("the memory of VM " + def.name + " here is of another life (lineage " +
                 s.lineage.ToString() + "): dropped on arrival, nothing reused");
  }
  MKD_ASSIGN_OR_RETURN(std::string blob, ram->TableBlob());
  Result<DecodedTable> table = DecodeTable(blob);
  if (!table.ok()) return table.status().WithContext("the stored table of VM " + def.name);
  // memfs admits an arrival in epoch E only when its stored incarnation of that lineage has
  // neither an epoch above E nor a page of generation E or above (memfs/reuse_rule.h).
  Generation newest = 0;
  for (uint64_t p = 0; p < table->table.pages(); ++p) {
    const Generation g = table->table.Get(p);
    if (g != kGenInvalid && g > newest) newest = g;
  }
  if (s.epoch > arriving || newest >= arriving) {
    return Status::FailedPrecondition(
        "this host holds epoch " + std::to_string(std::max<Epoch>(s.epoch, newest)) + " of VM " +
        def.name + ", not older than the epoch it would arrive in (" + std::to_string(arriving) +
        "): memfs would refuse the arrival (epochs only move forward, docs/security.md)");
  }
  return PlanAnswer{def, std::move(blob),
                    "holds its memory from an earlier stay: pages of equal generation are reused",
                    /*own_memory=*/true};
}

void AnswerPlan(const Hello& hello, IncomingLink& link, IncomingHost& host) {
  Result<PlanAnswer> a = DecidePlan(hello, host);
  if (!a.ok()) {
    spdlog::info("plan of VM {} for {}: {}", hello.vm.ToString(), link.peer_host(),
                 a.status().ToString());
    (void)link.Send(FrameType::kResult, EncodeResult({false, a.status().ToString()}));
    return;
  }
  if (!link.Send(FrameType::kTable, EncodeBlob(0, a->table)).ok() ||
      !link.Send(FrameType::kResult, EncodeResult({true, a->message})).ok()) {
    return;
  }
  std::unique_ptr<IncomingContent> content = host.ContentFor(a->def, a->own_memory);
  PlanOffersAnswered n;
  Status s = AnswerPlanOffers(link, *content, hello.blocks[0].pages, &n);
  if (n.offers > 0) {
    spdlog::info("plan of VM {} for {}: {} of {} pages offered by content found on this host ({})",
                 hello.vm.ToString(), link.peer_host(), n.found, n.offered, content->Summary());
  }
  if (!s.ok()) {
    spdlog::warn("plan of VM {} for {}: {}", hello.vm.ToString(), link.peer_host(), s.ToString());
  }
}

Status AnswerPlanOffers(IncomingLink& link, IncomingContent& content, uint64_t pages,
                        PlanOffersAnswered* answered) {
  while (true) {
    Result<Frame> f = link.Receive();
    if (!f.ok()) return Status::Ok();  // the source is done (or gone: a plan changes nothing)
    if (f->type != FrameType::kOffer) {
      return Status::InvalidArgument("a plan sent " + std::string(FrameTypeName(f->type)) +
                                     " where only OFFER may follow");
    }
    MKD_ASSIGN_OR_RETURN(OfferFrame offer, ParseOffer(f->payload, {pages}));
    if (answered->offered + offer.entries.size() > pages) {
      return Status::InvalidArgument("a plan offered more pages than the VM's " +
                                     std::to_string(pages));
    }
    MKD_ASSIGN_OR_RETURN(std::string need,
                         AnswerOffer(offer, content, [&](const OfferEntry&, std::string_view) {
                           ++answered->found;  // a plan copies nothing
                           return Status::Ok();
                         }));
    ++answered->offers;
    answered->offered += offer.entries.size();
    MKD_RETURN_IF_ERROR(link.Send(FrameType::kNeed, need));
  }
}

}  // namespace mkd::migrate
