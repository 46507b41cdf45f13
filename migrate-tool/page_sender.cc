// Pages of the source VM onto the wire (see page_sender.h).
#include "migrate-tool/page_sender.h"

#include <chrono>

#include "genstore/zero_page.h"

namespace mkd::migrate {

Status SendPageRange(PeerLink& ch, SourceRam& ram, uint64_t first, uint64_t count, char* buf,
                     const std::function<Generation(uint64_t)>& gen_of,
                     const std::function<void(const SentRun&)>& on_sent, PipeTimes* times,
                     FrameCompression* z) {
  using Clock = std::chrono::steady_clock;
  auto add = [times](double PipeTimes::*field, Clock::time_point since) {
    if (times) times->*field += std::chrono::duration<double>(Clock::now() - since).count();
  };
  const auto read0 = Clock::now();
  MKD_RETURN_IF_ERROR(ram.ReadPages(first, count, buf));
  add(&PipeTimes::read, read0);
  const auto send0 = Clock::now();
  auto zero_at = [buf](uint64_t i) { return IsZeroPage(buf + i * kPageSize); };
  for (uint64_t i = 0; i < count;) {
    const Generation gen = gen_of(first + i);
    const bool zero = zero_at(i);
    uint64_t j = i + 1;
    while (j < count && gen_of(first + j) == gen && zero_at(j) == zero) ++j;
    const std::string head = EncodePagesHeader(0, first + i, static_cast<uint32_t>(j - i), gen);
    const std::string_view content(buf + i * kPageSize, (j - i) * kPageSize);
    if (zero) {
      MKD_RETURN_IF_ERROR(ch.Queue(FrameType::kZeros, head));
    } else if (z != nullptr && z->policy.Try()) {
      const auto t0 = Clock::now();
      const bool smaller = z->compressor.Compress(content, &z->buf);
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      z->policy.Record(content.size(), seconds, z->link_bytes_per_second);
      z->report->frames_tried += 1;
      z->report->seconds += seconds;
      if (smaller) {
        z->report->frames_compressed += 1;
        z->report->raw_bytes += content.size();
        z->report->compressed_bytes += z->buf.size();
      }
      MKD_RETURN_IF_ERROR(smaller ? ch.Queue(FrameType::kPagesZ, head, z->buf)
                                  : ch.Queue(FrameType::kPages, head, content));
    } else {
      MKD_RETURN_IF_ERROR(ch.Queue(FrameType::kPages, head, content));
    }
    on_sent(SentRun{first + i, j - i, zero});
    i = j;
  }
  add(&PipeTimes::send, send0);
  return Status::Ok();
}

}  // namespace mkd::migrate
