// Fuzz target for the migration protocol's parsers (migrate-tool/wire.h): everything a peer host
// sends. The first byte chooses the parser, the rest is its input. No input may crash a parser or
// make the JSON library throw; refusals are kInvalidArgument; what is accepted is within the
// limits the parsers promise, JSON messages survive an encode/parse round trip and accepted
// binary frames (LATER, WANT, OFFER, NEED) re-encode to exactly the input.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/check.h"
#include "migrate-tool/page_codec.h"
#include "migrate-tool/wire.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using mkd::ErrorCode;
namespace m = mkd::migrate;

void Refused(const mkd::Status& s) { MKD_CHECK(s.code() == ErrorCode::kInvalidArgument); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in = mkd::fuzz::AsBytes(data + 1, size - 1);
  const std::vector<uint64_t> blocks = {64, 1};
  switch (data[0] % 14) {
    case 0: {
      auto h = m::ParseFrameHeader(in);
      if (!h.ok()) return Refused(h.status()), 0;
      MKD_CHECK(h->length <= m::kMaxFramePayload);
      MKD_CHECK(m::EncodeFrameHeader(h->type, h->length) == in);
      // serve's own bound (--max-frame-bytes, default kMaxSourceFramePayload): refused exactly
      // when the header claims more.
      const mkd::Status limit = m::CheckFrameLength(*h, m::kMaxSourceFramePayload, "peer");
      MKD_CHECK(limit.ok() == (h->length <= m::kMaxSourceFramePayload));
      if (!limit.ok()) Refused(limit);
      break;
    }
    case 1:
    case 2: {
      const bool zeros = data[0] % 14 == 2;
      auto p = m::ParsePages(in, zeros, blocks);
      if (!p.ok()) return Refused(p.status()), 0;
      MKD_CHECK(p->block < blocks.size() && p->count > 0);
      MKD_CHECK(p->first + p->count <= blocks[p->block]);
      MKD_CHECK(p->gen != mkd::kGenInvalid);
      MKD_CHECK(zeros ? p->data.empty() : p->data.size() == uint64_t{p->count} * mkd::kPageSize);
      break;
    }
    case 3: {
      auto b = m::ParseBlob(in, blocks.size());
      if (!b.ok()) return Refused(b.status()), 0;
      MKD_CHECK(b->block < blocks.size());
      break;
    }
    case 4: {
      auto h = m::ParseHello(in);
      if (!h.ok()) return Refused(h.status()), 0;
      auto again = m::ParseHello(m::EncodeHello(*h));
      MKD_CHECK(again.ok() && again->vm == h->vm && again->epoch == h->epoch &&
                again->blocks.size() == h->blocks.size());
      break;
    }
    case 5: {
      auto r = m::ParseResult(in);
      if (!r.ok()) return Refused(r.status()), 0;
      MKD_CHECK(m::ParseResult(m::EncodeResult(*r)).ok());
      break;
    }
    case 6: {
      auto v = m::ParseStreamHello(in);
      if (!v.ok()) return Refused(v.status()), 0;
      MKD_CHECK(!v->source_host.empty() && v->source_host.size() <= 253);
      auto again = m::ParseStreamHello(m::EncodeStreamHello(*v));
      MKD_CHECK(again.ok() && again->vm == v->vm && again->source_host == v->source_host);
      break;
    }
    case 7: {
      auto l = m::ParseLater(in, blocks);
      if (!l.ok()) return Refused(l.status()), 0;
      MKD_CHECK(!l->runs.empty() && l->runs.size() <= m::kMaxLaterRuns);
      for (const m::GenRun& r : l->runs) {
        MKD_CHECK(r.count >= 1 && r.first + r.count <= blocks[l->block]);
        MKD_CHECK(r.gen != mkd::kGenInvalid && r.gen != mkd::kGenNeverWritten);
      }
      MKD_CHECK(m::EncodeLater(l->block, l->runs) == in);
      break;
    }
    case 8: {
      auto w = m::ParseWant(in, blocks);
      if (!w.ok()) return Refused(w.status()), 0;
      MKD_CHECK(!w->pages.empty() && w->pages.size() <= m::kMaxWantPages);
      for (uint64_t p : w->pages) MKD_CHECK(p < blocks[w->block]);
      MKD_CHECK(m::EncodeWant(w->block, w->pages) == in);
      break;
    }
    case 9: {
      auto d = m::ParsePostcopyDone(in);
      if (!d.ok()) return Refused(d.status()), 0;
      MKD_CHECK(d->seconds >= 0 && d->fault_p99_ms >= 0);
      MKD_CHECK(m::ParsePostcopyDone(m::EncodePostcopyDone(*d)).ok());
      break;
    }
    case 10: {
      // PAGES_Z: the header as PAGES, then the content expanded to exactly the frame's pages.
      auto p = m::ParsePagesZ(in, blocks);
      if (!p.ok()) return Refused(p.status()), 0;
      MKD_CHECK(p->count > 0 && p->count <= m::kMaxPagesPerFrame);
      MKD_CHECK(p->first + p->count <= blocks[p->block]);
      MKD_CHECK(!p->data.empty() && p->data.size() <= uint64_t{p->count} * mkd::kPageSize);
      static m::PageDecompressor expander;
      std::string out;
      const mkd::Status s = expander.Expand(p->data, uint64_t{p->count} * mkd::kPageSize, &out);
      if (!s.ok()) return Refused(s), 0;
      MKD_CHECK(out.size() == uint64_t{p->count} * mkd::kPageSize);
      break;
    }
    case 11: {
      auto o = m::ParseOffer(in, blocks);
      if (!o.ok()) return Refused(o.status()), 0;
      MKD_CHECK(!o->entries.empty() && o->entries.size() <= m::kMaxOfferPages);
      for (size_t i = 0; i < o->entries.size(); ++i) {
        const m::OfferEntry& e = o->entries[i];
        MKD_CHECK(e.page < blocks[o->block]);
        MKD_CHECK(i == 0 || e.page > o->entries[i - 1].page);
        MKD_CHECK(e.gen != mkd::kGenInvalid && e.gen != mkd::kGenNeverWritten);
      }
      MKD_CHECK(m::EncodeOffer(o->block, o->entries) == in);
      break;
    }
    case 12: {
      auto n = m::ParseNeed(in, blocks);
      if (!n.ok()) return Refused(n.status()), 0;
      MKD_CHECK(n->offered >= 1 && n->offered <= m::kMaxOfferPages);
      MKD_CHECK(n->pages.size() <= n->offered);
      for (size_t i = 0; i < n->pages.size(); ++i) {
        MKD_CHECK(n->pages[i] < blocks[n->block]);
        MKD_CHECK(i == 0 || n->pages[i] > n->pages[i - 1]);
      }
      MKD_CHECK(m::EncodeNeed(n->block, n->offered, n->pages) == in);
      break;
    }
    default: {
      auto a = m::ParseAbort(in);
      if (!a.ok()) return Refused(a.status()), 0;
      MKD_CHECK(m::ParseAbort(m::EncodeAbort(*a)).ok());
      break;
    }
  }
  return 0;
}
