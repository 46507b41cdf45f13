// Pages of the source VM onto the wire (see page_sender.h).
#include "migrate-tool/page_sender.h"

#include "genstore/zero_page.h"

namespace mkd::migrate {

Status SendPageRange(Channel& ch, RamFile& ram, uint64_t first, uint64_t count, char* buf,
                     const std::function<Generation(uint64_t)>& gen_of,
                     const std::function<void(const SentRun&)>& on_sent) {
  MKD_RETURN_IF_ERROR(ram.ReadPages(first, count, buf));
  auto zero_at = [buf](uint64_t i) { return IsZeroPage(buf + i * kPageSize); };
  for (uint64_t i = 0; i < count;) {
    const Generation gen = gen_of(first + i);
    const bool zero = zero_at(i);
    uint64_t j = i + 1;
    while (j < count && gen_of(first + j) == gen && zero_at(j) == zero) ++j;
    const std::string head = EncodePagesHeader(0, first + i, static_cast<uint32_t>(j - i), gen);
    MKD_RETURN_IF_ERROR(zero ? ch.Send(FrameType::kZeros, head)
                             : ch.Send(FrameType::kPages, head,
                                       std::string_view(buf + i * kPageSize, (j - i) * kPageSize)));
    on_sent(SentRun{first + i, j - i, zero});
    i = j;
  }
  return Status::Ok();
}

}  // namespace mkd::migrate
