// mkd-migrate plan (see plan.h): the estimate per host, and asking the hosts.
#include "migrate-tool/plan.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "genstore/compare.h"
#include "genstore/table_codec.h"
#include "genstore/zero_page.h"
#include "migrate-tool/channel.h"
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

}  // namespace

HostPlan EstimateHost(const GenerationTable& vm, uint32_t epoch, const GenerationTable& peer,
                      const PageBitmap& zero, uint64_t table_bytes, double link_bytes_per_second,
                      const std::function<uint64_t(uint64_t, uint64_t)>& content_bytes) {
  HostPlan h;
  const uint64_t pages = vm.pages();
  PageBitmap reusable(pages), zero_fill(pages);
  const ReuseSummary split = ComputeReusable(vm, peer, &reusable);
  ComputeZeroFill(vm, peer, &zero_fill);
  h.reusable = split.reusable;
  h.never_written = split.zero;
  h.zero_fill = zero_fill.Count();
  // Zero-fill runs: one ZEROS frame each (SourceSession::Classify).
  for (uint64_t p = zero_fill.NextSet(0); p < pages;) {
    uint64_t q = p;
    while (q < pages && zero_fill.Test(q)) ++q;
    ++h.frames;
    p = zero_fill.NextSet(q);
  }
  // The pages to send: runs of up to kMaxPagesPerFrame, each split where the generation or the
  // zero-ness changes (SendPages, SendPageRange).
  PageBitmap send(pages);
  for (uint64_t p = 0; p < pages; ++p) {
    if (vm.Get(p) != kGenNeverWritten && !reusable.Test(p)) send.Set(p);
  }
  for (uint64_t at = send.NextSet(0); at < pages;) {
    uint64_t n = 1;
    while (n < kMaxPagesPerFrame && at + n < pages && send.Test(at + n)) ++n;
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
    at = send.NextSet(at + n);
  }
  h.table_bytes = table_bytes;
  h.bytes = h.frames * kFrameOverhead + h.content_bytes + kFrameHeaderSize + table_bytes +
            kControlEstimateBytes + kDeviceStateEstimateBytes;
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
  const Hello hello = HelloFor(def.uuid, s, o.host_id);
  MKD_ASSIGN_OR_RETURN(peer::TlsContext tls, peer::TlsContext::Create(o.tls, /*server=*/false));

  std::vector<Result<PeerAnswer>> answers;
  for (const PlanTarget& t : o.to) {
    Result<std::unique_ptr<Channel>> ch =
        DialPeer(tls, t.address.empty() ? t.host : t.address, t.host, o.timeout);
    answers.push_back(ch.ok() ? AskHost(**ch, hello) : Result<PeerAnswer>(ch.status()));
  }
  // Which of the pages some host would be sent read as zeros: read once, for every host.
  PageBitmap wanted(s.pages), zero(s.pages);
  for (const Result<PeerAnswer>& a : answers) {
    if (!a.ok()) continue;
    PageBitmap reusable(s.pages);
    ComputeReusable(table, a->table, &reusable);
    for (uint64_t p = 0; p < s.pages; ++p) {
      if (table.Get(p) != kGenNeverWritten && !reusable.Test(p)) wanted.Set(p);
    }
  }
  std::string buf(kMaxPagesPerFrame * kPageSize, '\0');
  for (uint64_t at = wanted.NextSet(0); at < s.pages;) {
    uint64_t n = 1;
    while (n < kMaxPagesPerFrame && at + n < s.pages && wanted.Test(at + n)) ++n;
    MKD_RETURN_IF_ERROR(ram.ReadPages(at, n, buf.data()));
    for (uint64_t i = 0; i < n; ++i) {
      if (IsZeroPage(buf.data() + i * kPageSize)) zero.Set(at + i);  // as SendPageRange tells
    }
    at = wanted.NextSet(at + n);
  }
  // Frames compressed as the migration would: its policy, with this host's compressing times.
  std::string raw(kMaxPagesPerFrame * kPageSize, '\0');
  Status read_status;
  PageCompressor compressor;
  std::string packed;
  for (size_t i = 0; i < o.to.size(); ++i) {
    HostPlan h;
    if (answers[i].ok()) {
      CompressPolicy policy(o.compress);
      const auto content = [&](uint64_t first, uint64_t count) -> uint64_t {
        const uint64_t bytes = count * kPageSize;
        if (!read_status.ok() || !policy.Try()) return bytes;
        read_status = ram.ReadPages(first, count, raw.data());
        if (!read_status.ok()) return bytes;
        const auto t0 = std::chrono::steady_clock::now();
        const bool smaller = compressor.Compress(std::string_view(raw.data(), bytes), &packed);
        policy.Record(bytes, smaller ? packed.size() : bytes,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                      plan.link_bytes_per_second);
        return smaller ? packed.size() : bytes;
      };
      h = EstimateHost(table, s.epoch, answers[i]->table, zero, answers[i]->table_bytes,
                       plan.link_bytes_per_second, content);
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
