// mkd-migrate plan (see plan.h): the estimate per host, and asking the hosts.
#include "migrate-tool/plan.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "genstore/compare.h"
#include "genstore/digests.h"
#include "genstore/table_codec.h"
#include "genstore/zero_page.h"
#include "migrate-tool/channel.h"
#include "migrate-tool/content_digest.h"
#include "migrate-tool/content_offers.h"
#include "migrate-tool/net.h"
#include "migrate-tool/page_codec.h"
#include "migrate-tool/ram_file.h"
#include "migrate-tool/stop_rule.h"
#include "migrate-tool/wire.h"
#include "qemu-config/command_line.h"
#include "qemu-config/vm_definition.h"

namespace mkd::migrate {

namespace {

constexpr uint64_t kFrameOverhead = kFrameHeaderSize + kPagesHeaderSize;

// The generation the first pass sends a page with (SourceSession::TableGen).
Generation SendGen(const GenerationTable& vm, uint32_t epoch, uint64_t p) {
  const Generation g = vm.Get(p);
  return g == kGenInvalid ? epoch : g;
}

// The ranges the first pass takes the pages of `set` in (SendPages): runs of neighbouring pages,
// at most kMaxPagesPerFrame each, in page order.
template <typename Fn>
void ForEachFrameRange(const PageBitmap& set, Fn&& fn) {
  set.ForEachRun([&](uint64_t first, uint64_t count) {
    for (uint64_t at = first; at < first + count; at += kMaxPagesPerFrame) {
      fn(at, std::min<uint64_t>(kMaxPagesPerFrame, first + count - at));
    }
  });
}

// The pages written and not `reusable`: what the first pass sends.
PageBitmap WrittenNotReusable(const GenerationTable& vm, const PageBitmap& reusable) {
  PageBitmap send(vm.pages());
  for (uint64_t p = 0; p < vm.pages(); ++p) {
    if (vm.Get(p) != kGenNeverWritten && !reusable.Test(p)) send.Set(p);
  }
  return send;
}

}  // namespace

PageBitmap PagesToSend(const GenerationTable& vm, const GenerationTable& peer) {
  PageBitmap reusable(vm.pages());
  ComputeReusable(vm, peer, &reusable);
  return WrittenNotReusable(vm, reusable);
}

HostPlan EstimateHost(const GenerationTable& vm, uint32_t epoch, const GenerationTable& peer,
                      const PageBitmap& zero, uint64_t table_bytes, double link_bytes_per_second,
                      const std::function<uint64_t(uint64_t, uint64_t)>& content_bytes,
                      const ContentAnswer* content) {
  HostPlan h;
  const uint64_t pages = vm.pages();
  PageBitmap reusable(pages), zero_fill(pages);
  const ReuseSummary split = ComputeReusable(vm, peer, &reusable);
  ComputeZeroFill(vm, peer, &zero_fill);
  h.reusable = split.reusable;
  h.never_written = split.zero;
  h.zero_fill = zero_fill.Count();
  // Zero-fill runs: one ZEROS frame each (SourceSession::Classify).
  zero_fill.ForEachRun([&](uint64_t, uint64_t) { ++h.frames; });
  // Pages sent as SendPageRange sends them: frames split where the generation or the zero-ness
  // changes.
  const auto send_run = [&](uint64_t at, uint64_t n) {
    uint64_t frame = at;  // where the current frame began
    for (uint64_t p = at; p <= at + n; ++p) {
      const bool ends =
          p == at + n || (p > at && (zero.Test(p) != zero.Test(p - 1) ||
                                     SendGen(vm, epoch, p) != SendGen(vm, epoch, p - 1)));
      if (p > at && ends) {
        ++h.frames;
        if (!zero.Test(frame)) {
          h.content_bytes +=
              content_bytes ? content_bytes(frame, p - frame) : (p - frame) * kPageSize;
        }
        frame = p;
      }
      if (p < at + n) (zero.Test(p) ? h.send_zero : h.send_content) += 1;
    }
  };
  // An offered range (OfferPageRange, AnswerNeeds): its zero pages as ZEROS, the pages the host
  // took not at all, the others as pages, neighbours together.
  const auto offered_run = [&](uint64_t at, uint64_t n) {
    const auto kind = [&](uint64_t p) { return zero.Test(p) ? 0 : content->taken.Test(p) ? 1 : 2; };
    for (uint64_t p = at; p < at + n;) {
      uint64_t q = p + 1;
      while (q < at + n && kind(q) == kind(p)) ++q;
      if (kind(p) == 1) {
        h.by_content += q - p;
      } else {
        send_run(p, q - p);
      }
      p = q;
    }
  };
  ForEachFrameRange(WrittenNotReusable(vm, reusable), [&](uint64_t at, uint64_t n) {
    if (content && content->offered.Test(at)) {
      offered_run(at, n);
    } else {
      send_run(at, n);
    }
  });
  if (content) {
    h.offered = content->offered_pages;
    h.offer_bytes = content->offer_bytes;
    h.content_stopped = content->stopped;
  }
  h.table_bytes = table_bytes;
  h.bytes = h.frames * kFrameOverhead + h.content_bytes + h.offer_bytes + kFrameHeaderSize +
            table_bytes + kControlEstimateBytes + kDeviceStateEstimateBytes;
  h.seconds = static_cast<double>(h.bytes) / LinkRateOr(link_bytes_per_second);
  return h;
}

namespace {

struct PeerAnswer {
  GenerationTable table;
  uint64_t table_bytes = 0;
  std::string message;
};

// One PLAN exchange: the table an arrival would start from, and the destination's word on it.
Result<PeerAnswer> AskHost(Channel& ch, const Hello& hello) {
  MKD_RETURN_IF_ERROR(ch.Send(FrameType::kPlan, EncodeHello(hello)));
  MKD_ASSIGN_OR_RETURN(Frame table, ch.Expect(FrameType::kTable));
  MKD_ASSIGN_OR_RETURN(BlobFrame blob, ParseBlob(table.payload, 1));
  Result<DecodedTable> decoded = DecodeTable(blob.blob);
  if (!decoded.ok()) return decoded.status().WithContext("the destination's table");
  if (decoded->header.vm != hello.vm || decoded->table.pages() != hello.blocks[0].pages) {
    return Status::InvalidArgument("the destination's table is of another VM or size");
  }
  MKD_ASSIGN_OR_RETURN(Frame result, ch.Expect(FrameType::kResult));
  MKD_ASSIGN_OR_RETURN(ResultMsg r, ParseResult(result.payload));
  if (!r.ok) return Status::FailedPrecondition(r.message);
  return PeerAnswer{std::move(decoded->table), table.payload.size(), r.message};
}

// Offers the host the pages of `send` that do not read as zeros, range by range as the first pass
// would (OfferPageRange, with ContentOffers's window and stop rule), and records its NEEDs.
Result<ContentAnswer> OfferContent(Channel& ch, RamFile& ram, const GenerationTable& vm,
                                   uint32_t epoch, const PageBitmap& send, const PageBitmap& zero) {
  ContentAnswer a;
  a.offered = a.taken = PageBitmap(vm.pages());
  ContentOffers offers(/*enabled=*/true);
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  const auto answer_one = [&]() -> Status {
    MKD_ASSIGN_OR_RETURN(Frame f, ch.Expect(FrameType::kNeed));
    MKD_ASSIGN_OR_RETURN(NeedFrame need, ParseNeed(f.payload, {vm.pages()}));
    std::vector<uint64_t> taken;
    MKD_RETURN_IF_ERROR(offers.Answer(need.offered, need.pages, ch.peer_host(), &taken));
    for (uint64_t p : taken) a.taken.Set(p);
    return Status::Ok();
  };
  Status status;
  // OFFERs as the migration gathers them (SourceSession::OfferPageRange): up to
  // ContentOffers::kBatchPages pages, across ranges, cut before a zero page (the migration sends
  // ZEROS there, after the OFFER).
  std::vector<OfferEntry> entries;
  const auto flush = [&]() -> Status {
    if (entries.empty()) return Status::Ok();
    const std::string offer = offers.Offer(0, entries);
    a.offered_pages += entries.size();
    a.offer_bytes += kFrameHeaderSize + offer.size();
    entries.clear();
    return ch.Send(FrameType::kOffer, offer);
  };
  ForEachFrameRange(send, [&](uint64_t at, uint64_t n) {
    if (!status.ok() || !offers.offering()) return;
    status = ram.ReadPages(at, n, buf.data());
    for (uint64_t p = at; status.ok() && p < at + n; ++p) {
      if (zero.Test(p)) {
        status = flush();
        continue;
      }
      const char* page = buf.data() + (p - at) * kPageSize;
      entries.push_back({.page = p,
                         .gen = SendGen(vm, epoch, p),
                         .digest = PageDigest(page),
                         .sha256 = PageSha256(page)});
      if (entries.size() >= ContentOffers::kBatchPages) status = flush();
    }
    a.offered.SetRange(at, n);
    while (status.ok() && offers.pending_pages() > ContentOffers::kWindowPages) {
      status = answer_one();
    }
  });
  if (status.ok()) status = flush();
  while (status.ok() && offers.pending()) status = answer_one();
  MKD_RETURN_IF_ERROR(status);
  a.stopped = offers.stopped();
  return a;
}

}  // namespace

Result<Plan> RunPlan(const PlanOptions& o) {
  MKD_ASSIGN_OR_RETURN(qemuconfig::VmDefinition def, qemuconfig::LoadVmDefinition(o.definition));
  if (def.backing != qemuconfig::MemoryBacking::kMemfs) {
    return Status::FailedPrecondition("VM " + def.name +
                                      ": its RAM is not on mkd-memfs (memory_backing): there is "
                                      "no reuse to plan");
  }
  const qemuconfig::VmPaths paths = qemuconfig::PathsFor(def);
  MKD_ASSIGN_OR_RETURN(RamFile ram, RamFile::Open(paths.memory_file));
  MKD_ASSIGN_OR_RETURN(RamFileSummary s, ram.Summary());
  if (s.state != "live" && s.state != "stored") {
    return Status::FailedPrecondition("VM " + def.name + "'s memory here is " + s.state +
                                      ": plan once it arrived");
  }
  // Pages the guest wrote and the kernel has not written back yet still show their old
  // generation: write them back first (what the kernel does within its 30 s anyway).
  if (s.state == "live") MKD_RETURN_IF_ERROR(ram.WriteBack(0, s.pages));
  MKD_ASSIGN_OR_RETURN(GenerationTable table, ram.Table());
  if (table.pages() != s.pages) {
    return Status::Corrupt(paths.memory_file + ": its table has " + std::to_string(table.pages()) +
                           " pages, its summary " + std::to_string(s.pages));
  }
  Plan plan;
  plan.vm_name = def.name;
  plan.vm = def.uuid;
  plan.epoch = s.epoch;
  plan.pages = s.pages;
  plan.link_given = o.bandwidth > 0;
  plan.link_bytes_per_second = LinkRateOr(static_cast<double>(o.bandwidth));
  Hello hello = HelloFor(def.uuid, s, o.host_id);
  hello.offers = o.content_reuse;
  MKD_ASSIGN_OR_RETURN(peer::TlsContext tls, peer::TlsContext::Create(o.tls, /*server=*/false));

  std::vector<Result<PeerAnswer>> answers;
  std::vector<std::unique_ptr<Channel>> channels;  // open until the host's offers are answered
  for (const PlanTarget& t : o.to) {
    Result<std::unique_ptr<Channel>> ch =
        DialPeer(tls, t.address.empty() ? t.host : t.address, t.host, o.timeout);
    answers.push_back(ch.ok() ? AskHost(**ch, hello) : Result<PeerAnswer>(ch.status()));
    channels.push_back(ch.ok() ? std::move(*ch) : nullptr);
  }
  // Which of the pages some host would be sent read as zeros: read once, for every host.
  PageBitmap wanted(s.pages), zero(s.pages);
  std::vector<PageBitmap> to_send;  // per host: what its first pass would send (empty: no answer)
  for (const Result<PeerAnswer>& a : answers) {
    to_send.push_back(a.ok() ? PagesToSend(table, a->table) : PageBitmap());
    if (a.ok()) wanted.Or(to_send.back());
  }
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  Status read_status;
  ForEachFrameRange(wanted, [&](uint64_t at, uint64_t n) {
    if (read_status.ok()) read_status = ram.ReadPages(at, n, buf.data());
    for (uint64_t i = 0; read_status.ok() && i < n; ++i) {
      if (IsZeroPage(buf.data() + i * kPageSize)) zero.Set(at + i);  // as SendPageRange tells
    }
  });
  MKD_RETURN_IF_ERROR(read_status);
  // Frames compressed as the migration would: its policy, with this host's compressing times.
  PageCompressor compressor;
  std::string packed;
  for (size_t i = 0; i < o.to.size(); ++i) {
    HostPlan h;
    Result<ContentAnswer> content = ContentAnswer{};
    if (answers[i].ok() && o.content_reuse) {
      content = OfferContent(*channels[i], ram, table, s.epoch, to_send[i], zero);
    }
    channels[i].reset();  // the host's answer is complete
    if (answers[i].ok() && !content.ok()) {
      answers[i] = content.status().WithContext("offering pages by content");
    }
    if (answers[i].ok()) {
      CompressPolicy policy(o.compress);
      const auto content_bytes = [&](uint64_t first, uint64_t count) -> uint64_t {
        const uint64_t bytes = count * kPageSize;
        if (!read_status.ok() || !policy.Try()) return bytes;
        read_status = ram.ReadPages(first, count, buf.data());
        if (!read_status.ok()) return bytes;
        const auto t0 = std::chrono::steady_clock::now();
        const bool smaller = compressor.Compress(std::string_view(buf.data(), bytes), &packed);
        policy.Record(bytes,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                      plan.link_bytes_per_second);
        return smaller ? packed.size() : bytes;
      };
      h = EstimateHost(table, s.epoch, answers[i]->table, zero, answers[i]->table_bytes,
                       plan.link_bytes_per_second, content_bytes,
                       o.content_reuse ? &*content : nullptr);
      MKD_RETURN_IF_ERROR(read_status);
      h.base = answers[i]->message;
    } else {
      h.error = answers[i].status().ToString();
      spdlog::debug("plan: {}: {}", o.to[i].host, h.error);
    }
    h.host = o.to[i].host;
    plan.hosts.push_back(std::move(h));
  }
  return plan;
}

}  // namespace mkd::migrate
