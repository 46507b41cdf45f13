// Encoding and strict parsing of the migration protocol's frames (see wire.h).
#include "migrate-tool/wire.h"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "base/byte_io.h"
#include "genstore/codec_header.h"

namespace mkd::migrate {
namespace {

using internal::AppendLe;
using internal::ByteReader;

Status Bad(std::string_view what, std::string_view detail) {
  return Status::InvalidArgument("migration protocol: " + std::string(what) + ": " +
                                 std::string(detail) +
                                 " (is the peer a miyakodori host of the "
                                 "same protocol version?)");
}

// Parses `text` as a JSON object with exactly the keys in `keys`.
Result<nlohmann::json> ParseObject(std::string_view what, std::string_view text,
                                   std::initializer_list<std::string_view> keys,
                                   std::initializer_list<std::string_view> optional = {}) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Bad(what, "not a JSON object");
  size_t present = 0;
  for (std::string_view k : optional) present += doc.contains(std::string(k)) ? 1 : 0;
  if (doc.size() != keys.size() + present) return Bad(what, "unexpected or missing fields");
  for (std::string_view k : keys) {
    if (!doc.contains(std::string(k))) return Bad(what, "missing field \"" + std::string(k) + "\"");
  }
  return doc;
}

// Unsigned counts and finite, non-negative numbers (seconds, milliseconds) of an object whose
// keys were checked: the one reading of such fields for POSTCOPY_DONE and RESULT's receive.
Status ReadCounts(std::string_view what, const nlohmann::json& d,
                  std::initializer_list<std::pair<const char*, uint64_t*>> fields) {
  for (auto [name, field] : fields) {
    if (!d[name].is_number_unsigned()) return Bad(what, std::string(name) + " is not a count");
    *field = d[name].get<uint64_t>();
  }
  return Status::Ok();
}

Status ReadAmounts(std::string_view what, const nlohmann::json& d,
                   std::initializer_list<std::pair<const char*, double*>> fields) {
  for (auto [name, field] : fields) {
    if (!d[name].is_number()) return Bad(what, std::string(name) + " is not a number");
    const double v = d[name].get<double>();
    if (!std::isfinite(v) || v < 0) return Bad(what, std::string(name) + " is out of range");
    *field = v;
  }
  return Status::Ok();
}

// JSON text; invalid UTF-8 in strings (error messages quote untrusted text) is replaced, never
// thrown.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kTable:
      return "TABLE";
    case FrameType::kReady:
      return "READY";
    case FrameType::kPages:
      return "PAGES";
    case FrameType::kZeros:
      return "ZEROS";
    case FrameType::kVerify:
      return "VERIFY";
    case FrameType::kDigests:
      return "DIGESTS";
    case FrameType::kCommit:
      return "COMMIT";
    case FrameType::kAbort:
      return "ABORT";
    case FrameType::kResult:
      return "RESULT";
    case FrameType::kWaitRunning:
      return "WAIT_RUNNING";
    case FrameType::kStreamHello:
      return "STREAM_HELLO";
    case FrameType::kStreamData:
      return "STREAM_DATA";
    case FrameType::kStreamEnd:
      return "STREAM_END";
    case FrameType::kLater:
      return "LATER";
    case FrameType::kWant:
      return "WANT";
    case FrameType::kPostcopyEnd:
      return "POSTCOPY_END";
    case FrameType::kPostcopyDone:
      return "POSTCOPY_DONE";
    case FrameType::kDirty:
      return "DIRTY";
    case FrameType::kStreamBack:
      return "STREAM_BACK";
    case FrameType::kPlan:
      return "PLAN";
    case FrameType::kPagesZ:
      return "PAGES_Z";
    case FrameType::kOffer:
      return "OFFER";
    case FrameType::kNeed:
      return "NEED";
  }
  return "?";
}

std::string EncodeFrameHeader(FrameType type, uint32_t length) {
  std::string out(kWireMagic, sizeof(kWireMagic));
  out.push_back(static_cast<char>(kWireVersion));
  out.push_back(static_cast<char>(type));
  AppendLe<uint16_t>(&out, 0);
  AppendLe<uint32_t>(&out, length);
  return out;
}

Result<FrameHeader> ParseFrameHeader(std::string_view bytes) {
  if (bytes.size() != kFrameHeaderSize) return Bad("frame header", "wrong size");
  if (std::memcmp(bytes.data(), kWireMagic, sizeof(kWireMagic)) != 0) {
    return Bad("frame header", "bad magic");
  }
  ByteReader r(bytes.substr(sizeof(kWireMagic)));
  uint8_t version = 0, type = 0;
  uint16_t reserved = 0;
  uint32_t length = 0;
  if (!r.Read(&version) || !r.Read(&type) || !r.Read(&reserved) || !r.Read(&length)) {
    return Bad("frame header", "truncated");
  }
  if (version != kWireVersion) {
    return Bad("frame header", "protocol version " + std::to_string(version) + ", expected " +
                                   std::to_string(kWireVersion));
  }
  if (type < static_cast<uint8_t>(FrameType::kHello) ||
      type > static_cast<uint8_t>(FrameType::kNeed)) {
    return Bad("frame header", "unknown frame type " + std::to_string(type));
  }
  if (reserved != 0) return Bad("frame header", "reserved bytes are not zero");
  if (length > kMaxFramePayload) {
    return Bad("frame header", "payload of " + std::to_string(length) + " bytes is over the limit");
  }
  return FrameHeader{static_cast<FrameType>(type), length};
}

Status CheckFrameLength(const FrameHeader& header, uint32_t max_payload, std::string_view peer) {
  if (header.length <= max_payload) return Status::Ok();
  return Status::InvalidArgument(
      "migration protocol: " + std::string(peer) + " announced a " +
      std::string(FrameTypeName(header.type)) + " frame of " + std::to_string(header.length) +
      " bytes, over this host's limit of " + std::to_string(max_payload) +
      " bytes per frame (serve --max-frame-bytes): refused before reading it. A miyakodori "
      "source sends at most " +
      std::to_string(kMaxSourceFramePayload) + " bytes; check what runs on " + std::string(peer));
}

std::string EncodePagesHeader(uint32_t block, uint64_t first, uint32_t count, Generation gen) {
  std::string out;
  out.reserve(kPagesHeaderSize);
  AppendLe(&out, block);
  AppendLe(&out, first);
  AppendLe(&out, count);
  AppendLe(&out, gen);
  return out;
}

namespace {

// The 20 bytes every PAGES, ZEROS and PAGES_Z frame starts with, checked; `r` is left at the
// content.
Result<PagesFrame> ParsePagesHead(ByteReader& r, std::string_view what,
                                  const std::vector<uint64_t>& block_pages) {
  PagesFrame f;
  if (!r.Read(&f.block) || !r.Read(&f.first) || !r.Read(&f.count) || !r.Read(&f.gen)) {
    return Bad(what, "truncated");
  }
  if (f.block >= block_pages.size()) return Bad(what, "no block " + std::to_string(f.block));
  if (f.count == 0) return Bad(what, "no pages");
  if (f.gen == kGenInvalid) return Bad(what, "invalid generation");
  const uint64_t pages = block_pages[f.block];
  if (f.first > pages || f.count > pages - f.first) {
    return Bad(what, "pages " + std::to_string(f.first) + "+" + std::to_string(f.count) +
                         " are outside the block of " + std::to_string(pages) + " pages");
  }
  return f;
}

}  // namespace

Result<PagesFrame> ParsePagesZ(std::string_view payload, const std::vector<uint64_t>& block_pages) {
  const std::string_view what = "PAGES_Z frame";
  ByteReader r(payload);
  MKD_ASSIGN_OR_RETURN(PagesFrame f, ParsePagesHead(r, what, block_pages));
  if (f.count > kMaxPagesPerFrame) return Bad(what, "too many pages in one frame");
  if (f.gen == kGenNeverWritten) return Bad(what, "content with generation 0");
  if (r.remaining() == 0 || r.remaining() > uint64_t{f.count} * kPageSize) {
    return Bad(what, "compressed content of " + std::to_string(r.remaining()) + " bytes");
  }
  r.ReadBytes(r.remaining(), &f.data);
  return f;
}

Result<PagesFrame> ParsePages(std::string_view payload, bool zeros,
                              const std::vector<uint64_t>& block_pages) {
  const std::string_view what = zeros ? "ZEROS frame" : "PAGES frame";
  ByteReader r(payload);
  MKD_ASSIGN_OR_RETURN(PagesFrame f, ParsePagesHead(r, what, block_pages));
  if (zeros) {
    if (r.remaining() != 0) return Bad(what, "unexpected content");
    return f;
  }
  if (f.count > kMaxPagesPerFrame) return Bad(what, "too many pages in one frame");
  if (f.gen == kGenNeverWritten) return Bad(what, "content with generation 0");
  if (r.remaining() != uint64_t{f.count} * kPageSize) return Bad(what, "content length mismatch");
  r.ReadBytes(r.remaining(), &f.data);
  return f;
}

std::string EncodeOffer(uint32_t block, const std::vector<OfferEntry>& entries) {
  std::string out;
  out.reserve(8 + entries.size() * kOfferEntrySize);
  AppendLe(&out, block);
  AppendLe(&out, static_cast<uint32_t>(entries.size()));
  for (const OfferEntry& e : entries) {
    AppendLe(&out, e.page);
    AppendLe(&out, e.gen);
    AppendLe<uint32_t>(&out, 0);
    AppendLe(&out, e.digest);
    out.append(reinterpret_cast<const char*>(e.sha256.data()), e.sha256.size());
  }
  return out;
}

namespace {

// The count an OFFER carries, or the one a NEED answers: 1..kMaxOfferPages.
Status CheckOfferCount(std::string_view what, std::string_view label, uint32_t count) {
  if (count >= 1 && count <= kMaxOfferPages) return Status::Ok();
  return Bad(what, std::string(label) + " " + std::to_string(count) + " is not in 1.." +
                       std::to_string(kMaxOfferPages));
}

// Page `p` of the list of an OFFER or a NEED: inside the block of `pages` pages, after `prev`
// (null for the first).
Status CheckListedPage(std::string_view what, uint64_t p, const uint64_t* prev, uint64_t pages) {
  if (p >= pages) {
    return Bad(what, "page " + std::to_string(p) + " is outside the block of " +
                         std::to_string(pages) + " pages");
  }
  if (prev && p <= *prev) {
    return Bad(what, "page " + std::to_string(p) + " follows page " + std::to_string(*prev) +
                         ": pages are not strictly increasing");
  }
  return Status::Ok();
}

}  // namespace

Result<OfferFrame> ParseOffer(std::string_view payload, const std::vector<uint64_t>& block_pages) {
  const std::string_view what = "OFFER frame";
  ByteReader r(payload);
  OfferFrame f;
  uint32_t count = 0;
  if (!r.Read(&f.block) || !r.Read(&count)) return Bad(what, "truncated");
  if (f.block >= block_pages.size()) return Bad(what, "no block " + std::to_string(f.block));
  MKD_RETURN_IF_ERROR(CheckOfferCount(what, "page count", count));
  if (r.remaining() != uint64_t{count} * kOfferEntrySize) {
    return Bad(what, "length mismatch: " + std::to_string(r.remaining()) + " bytes for " +
                         std::to_string(count) + " entries of " + std::to_string(kOfferEntrySize) +
                         " bytes");
  }
  const uint64_t pages = block_pages[f.block];
  f.entries.resize(count);
  for (size_t i = 0; i < f.entries.size(); ++i) {
    OfferEntry& e = f.entries[i];
    uint32_t reserved = 0;
    std::string_view sha;
    if (!r.Read(&e.page) || !r.Read(&e.gen) || !r.Read(&reserved) || !r.Read(&e.digest) ||
        !r.ReadBytes(e.sha256.size(), &sha)) {
      return Bad(what, "truncated");  // not reached: the length was checked
    }
    std::memcpy(e.sha256.data(), sha.data(), e.sha256.size());
    MKD_RETURN_IF_ERROR(
        CheckListedPage(what, e.page, i > 0 ? &f.entries[i - 1].page : nullptr, pages));
    // Built only for a refusal: this loop runs for every page offered.
    const auto page = [&e] { return "page " + std::to_string(e.page); };
    if (e.gen == kGenInvalid || e.gen == kGenNeverWritten) {
      return Bad(what, page() + " has generation 0 or invalid");
    }
    if (reserved != 0) return Bad(what, page() + ": reserved bytes are not zero");
  }
  return f;
}

std::string EncodeNeed(uint32_t block, uint32_t offered, const std::vector<uint64_t>& pages) {
  std::string out;
  out.reserve(12 + pages.size() * 8);
  AppendLe(&out, block);
  AppendLe(&out, offered);
  AppendLe(&out, static_cast<uint32_t>(pages.size()));
  for (uint64_t p : pages) AppendLe(&out, p);
  return out;
}

Result<NeedFrame> ParseNeed(std::string_view payload, const std::vector<uint64_t>& block_pages) {
  const std::string_view what = "NEED frame";
  ByteReader r(payload);
  NeedFrame f;
  uint32_t n = 0;
  if (!r.Read(&f.block) || !r.Read(&f.offered) || !r.Read(&n)) return Bad(what, "truncated");
  if (f.block >= block_pages.size()) return Bad(what, "no block " + std::to_string(f.block));
  MKD_RETURN_IF_ERROR(CheckOfferCount(what, "offered count", f.offered));
  if (n > f.offered) {
    return Bad(what,
               std::to_string(n) + " pages needed of " + std::to_string(f.offered) + " offered");
  }
  if (r.remaining() != uint64_t{n} * 8) {
    return Bad(what, "length mismatch: " + std::to_string(r.remaining()) + " bytes for " +
                         std::to_string(n) + " pages");
  }
  const uint64_t pages = block_pages[f.block];
  f.pages.resize(n);
  for (size_t i = 0; i < f.pages.size(); ++i) {
    (void)r.Read(&f.pages[i]);
    MKD_RETURN_IF_ERROR(
        CheckListedPage(what, f.pages[i], i > 0 ? &f.pages[i - 1] : nullptr, pages));
  }
  return f;
}

std::string EncodeLater(uint32_t block, const std::vector<GenRun>& runs) {
  std::string out;
  out.reserve(8 + runs.size() * 16);
  AppendLe(&out, block);
  AppendLe(&out, static_cast<uint32_t>(runs.size()));
  for (const GenRun& r : runs) {
    AppendLe(&out, r.first);
    AppendLe(&out, r.count);
    AppendLe(&out, r.gen);
  }
  return out;
}

Result<LaterFrame> ParseLater(std::string_view payload, const std::vector<uint64_t>& block_pages) {
  ByteReader r(payload);
  LaterFrame f;
  uint32_t n = 0;
  if (!r.Read(&f.block) || !r.Read(&n)) return Bad("LATER frame", "truncated");
  if (f.block >= block_pages.size())
    return Bad("LATER frame", "no block " + std::to_string(f.block));
  if (n == 0 || n > kMaxLaterRuns) {
    return Bad("LATER frame", "run count " + std::to_string(n) + " is not in 1..4094");
  }
  if (r.remaining() != uint64_t{n} * 16) return Bad("LATER frame", "length mismatch");
  const uint64_t pages = block_pages[f.block];
  f.runs.resize(n);
  for (GenRun& run : f.runs) {
    (void)(r.Read(&run.first) && r.Read(&run.count) && r.Read(&run.gen));
    if (run.count == 0) return Bad("LATER frame", "a run without pages");
    if (run.gen == kGenInvalid || run.gen == kGenNeverWritten) {
      return Bad("LATER frame", "a run with generation 0 or invalid");
    }
    if (run.first > pages || run.count > pages - run.first) {
      return Bad("LATER frame", "pages " + std::to_string(run.first) + "+" +
                                    std::to_string(run.count) + " are outside the block");
    }
  }
  return f;
}

std::string EncodeWant(uint32_t block, const std::vector<uint64_t>& pages) {
  std::string out;
  out.reserve(8 + pages.size() * 8);
  AppendLe(&out, block);
  AppendLe(&out, static_cast<uint32_t>(pages.size()));
  for (uint64_t p : pages) AppendLe(&out, p);
  return out;
}

Result<WantFrame> ParseWant(std::string_view payload, const std::vector<uint64_t>& block_pages) {
  ByteReader r(payload);
  WantFrame f;
  uint32_t count = 0;
  if (!r.Read(&f.block) || !r.Read(&count)) return Bad("WANT frame", "truncated");
  if (f.block >= block_pages.size())
    return Bad("WANT frame", "no block " + std::to_string(f.block));
  if (count == 0 || count > kMaxWantPages) {
    return Bad("WANT frame", "page count " + std::to_string(count) + " is not in 1..1024");
  }
  if (r.remaining() != uint64_t{count} * 8) return Bad("WANT frame", "length mismatch");
  f.pages.resize(count);
  for (uint64_t& p : f.pages) {
    (void)r.Read(&p);
    if (p >= block_pages[f.block])
      return Bad("WANT frame", "page " + std::to_string(p) + " is outside the block");
  }
  return f;
}

std::string EncodePostcopyDone(const PostcopyDone& d) {
  return Dump(nlohmann::json{{"fetched", d.fetched},
                             {"pushed", d.pushed},
                             {"skipped", d.skipped},
                             {"faults", d.faults},
                             {"fault_median_ms", d.fault_median_ms},
                             {"fault_p99_ms", d.fault_p99_ms},
                             {"fault_max_ms", d.fault_max_ms},
                             {"seconds", d.seconds}});
}

Result<PostcopyDone> ParsePostcopyDone(std::string_view json) {
  MKD_ASSIGN_OR_RETURN(nlohmann::json doc,
                       ParseObject("POSTCOPY_DONE", json,
                                   {"fetched", "pushed", "skipped", "faults", "fault_median_ms",
                                    "fault_p99_ms", "fault_max_ms", "seconds"}));
  const nlohmann::json& d = doc;
  PostcopyDone out;
  MKD_RETURN_IF_ERROR(ReadCounts("POSTCOPY_DONE", d,
                                 {{"fetched", &out.fetched}, {"pushed", &out.pushed},
                                  {"skipped", &out.skipped}, {"faults", &out.faults}}));
  MKD_RETURN_IF_ERROR(ReadAmounts("POSTCOPY_DONE", d,
                                  {{"fault_median_ms", &out.fault_median_ms},
                                   {"fault_p99_ms", &out.fault_p99_ms},
                                   {"fault_max_ms", &out.fault_max_ms},
                                   {"seconds", &out.seconds}}));
  return out;
}

std::string EncodeBlob(uint32_t block, std::string_view blob) {
  std::string out;
  out.reserve(4 + blob.size());
  AppendLe(&out, block);
  out.append(blob);
  return out;
}

Result<BlobFrame> ParseBlob(std::string_view payload, size_t blocks) {
  ByteReader r(payload);
  BlobFrame f;
  if (!r.Read(&f.block)) return Bad("TABLE/DIGESTS/DIRTY frame", "truncated");
  if (f.block >= blocks) {
    return Bad("TABLE/DIGESTS/DIRTY frame", "no block " + std::to_string(f.block));
  }
  r.ReadBytes(r.remaining(), &f.blob);
  return f;
}

std::string EncodeHello(const Hello& h) {
  nlohmann::json blocks = nlohmann::json::array();
  for (const BlockInfo& b : h.blocks) blocks.push_back({{"name", b.name}, {"pages", b.pages}});
  nlohmann::json j{{"vm", h.vm.ToString()},
                   {"epoch", h.epoch},
                   {"lineage", h.lineage.ToString()},
                   {"blocks", blocks},
                   {"source_host", h.source_host}};
  if (!h.offers) j["offers"] = false;
  return Dump(j);
}

Result<Hello> ParseHello(std::string_view json) {
  MKD_ASSIGN_OR_RETURN(
      nlohmann::json doc,
      ParseObject("HELLO", json, {"vm", "epoch", "lineage", "blocks", "source_host"}, {"offers"}));
  const nlohmann::json& d = doc;
  Hello h;
  if (!d["vm"].is_string() || !d["lineage"].is_string() || !d["source_host"].is_string() ||
      !d["epoch"].is_number_unsigned() || !d["blocks"].is_array()) {
    return Bad("HELLO", "a field has the wrong type");
  }
  Result<Uuid> vm = Uuid::Parse(d["vm"].get<std::string>());
  Result<Uuid> lineage = Uuid::Parse(d["lineage"].get<std::string>());
  if (!vm.ok() || !lineage.ok() || lineage->IsNil()) return Bad("HELLO", "bad vm or lineage");
  const uint64_t epoch = d["epoch"].get<uint64_t>();
  if (!IsValidEpoch(epoch) || epoch >= kMaxEpoch) return Bad("HELLO", "bad epoch");
  h.vm = *vm;
  h.lineage = *lineage;
  h.epoch = static_cast<Epoch>(epoch);
  h.source_host = d["source_host"].get<std::string>();
  if (h.source_host.size() > 253) return Bad("HELLO", "source host name too long");
  if (d.contains("offers")) {
    if (!d["offers"].is_boolean()) return Bad("HELLO", "offers is not a boolean");
    h.offers = d["offers"].get<bool>();
  }
  if (d["blocks"].empty() || d["blocks"].size() > 64) return Bad("HELLO", "1 to 64 blocks");
  std::set<std::string> names;
  for (const nlohmann::json& b : d["blocks"]) {
    if (!b.is_object() || b.size() != 2 || !b.contains("name") || !b.contains("pages") ||
        !b["name"].is_string() || !b["pages"].is_number_unsigned()) {
      return Bad("HELLO", "a block is not {\"name\", \"pages\"}");
    }
    BlockInfo info{b["name"].get<std::string>(), b["pages"].get<uint64_t>()};
    if (Status v = ValidateBlockName(info.name); !v.ok()) return Bad("HELLO", v.message());
    if (!names.insert(info.name).second) return Bad("HELLO", "repeated block name");
    if (info.pages == 0 || info.pages > kMaxPages) return Bad("HELLO", "bad block size");
    h.blocks.push_back(std::move(info));
  }
  return h;
}

std::string EncodeResult(const ResultMsg& r) {
  nlohmann::json j{{"ok", r.ok}, {"message", r.message}};
  if (r.receive) {
    j["receive"] = {{"frames", r.receive->frames},
                    {"writes", r.receive->writes},
                    {"wait_seconds", r.receive->wait_seconds},
                    {"write_seconds", r.receive->write_seconds}};
  }
  return Dump(j);
}

Result<ResultMsg> ParseResult(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Bad("RESULT", "not a JSON object");
  const bool with_receive = doc.contains("receive");
  if (!doc.contains("ok") || !doc.contains("message") || doc.size() != 2u + with_receive) {
    return Bad("RESULT", "unexpected or missing fields");
  }
  if (!doc["ok"].is_boolean() || !doc["message"].is_string()) {
    return Bad("RESULT", "a field has the wrong type");
  }
  ResultMsg out{doc["ok"].get<bool>(), doc["message"].get<std::string>(), std::nullopt};
  if (with_receive) {
    const nlohmann::json& r = doc["receive"];
    if (!r.is_object() || r.size() != 4 || !r.contains("frames") || !r.contains("writes") ||
        !r.contains("wait_seconds") || !r.contains("write_seconds")) {
      return Bad("RESULT", "receive: unexpected or missing fields");
    }
    ReceiveStats st;
    MKD_RETURN_IF_ERROR(
        ReadCounts("RESULT receive", r, {{"frames", &st.frames}, {"writes", &st.writes}}));
    MKD_RETURN_IF_ERROR(ReadAmounts(
        "RESULT receive", r,
        {{"wait_seconds", &st.wait_seconds}, {"write_seconds", &st.write_seconds}}));
    out.receive = st;
  }
  return out;
}

std::string EncodeStreamHello(const StreamHello& h) {
  return Dump(nlohmann::json{{"vm", h.vm.ToString()}, {"source_host", h.source_host}});
}

Result<StreamHello> ParseStreamHello(std::string_view json) {
  MKD_ASSIGN_OR_RETURN(nlohmann::json doc,
                       ParseObject("STREAM_HELLO", json, {"vm", "source_host"}));
  const nlohmann::json& d = doc;
  if (!d["vm"].is_string() || !d["source_host"].is_string()) {
    return Bad("STREAM_HELLO", "a field has the wrong type");
  }
  Result<Uuid> vm = Uuid::Parse(d["vm"].get<std::string>());
  if (!vm.ok()) return Bad("STREAM_HELLO", "bad vm");
  StreamHello h{*vm, d["source_host"].get<std::string>()};
  if (h.source_host.empty() || h.source_host.size() > 253) {
    return Bad("STREAM_HELLO", "source host name empty or too long");
  }
  return h;
}

std::string EncodeAbort(std::string_view reason) {
  return Dump(nlohmann::json{{"reason", std::string(reason)}});
}

Result<std::string> ParseAbort(std::string_view json) {
  MKD_ASSIGN_OR_RETURN(nlohmann::json doc, ParseObject("ABORT", json, {"reason"}));
  if (!(doc)["reason"].is_string()) return Bad("ABORT", "reason is not a string");
  return (doc)["reason"].get<std::string>();
}

}  // namespace mkd::migrate
