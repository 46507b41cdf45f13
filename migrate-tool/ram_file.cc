// A memfs RAM file through its mount: xattrs and pread (see ram_file.h).
#include "migrate-tool/ram_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "genstore/bitmap_codec.h"
#include "genstore/chunking.h"
#include "genstore/table_codec.h"
#include "memfs/receive_frame.h"

namespace mkd::migrate {
namespace {

std::string Errno(int err) { return std::strerror(err); }

// A refused setxattr on the mount as a Status: memfs answers EBUSY for a wrong state (xattrs.h),
// EINVAL for a bad value.
Status SetxattrError(int err, const std::string& path, const std::string& name, const char* what) {
  const std::string m = path + ": setxattr " + name + ": " + Errno(err);
  if (err == EBUSY) {
    return Status::FailedPrecondition(m + " (wrong state of " + std::string(what) + ")");
  }
  if (err == EINVAL) return Status::InvalidArgument(m);
  return Status::Io(m);
}

bool ParseU64(std::string_view s, uint64_t* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

}  // namespace

Result<RamFileSummary> ParseSummary(std::string_view line) {
  RamFileSummary s;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    std::string_view field = line.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    s.fields[std::string(field.substr(0, eq))] = std::string(field.substr(eq + 1));
  }
  auto need = [&](const char* key) -> const std::string* {
    auto it = s.fields.find(key);
    return it == s.fields.end() ? nullptr : &it->second;
  };
  const std::string *state = need("state"), *epoch = need("epoch"), *lineage = need("lineage"),
                    *pages = need("pages");
  uint64_t e = 0;
  if (!state || !epoch || !lineage || !pages || !ParseU64(*epoch, &e) || e > kMaxEpoch ||
      !ParseU64(*pages, &s.pages)) {
    return Status::Corrupt(
        "user.mkd.summary: missing or malformed state/epoch/lineage/pages in \"" +
        std::string(line.substr(0, 200)) + "\" (is this a mkd-memfs mount?)");
  }
  Result<Uuid> l = Uuid::Parse(*lineage);
  if (!l.ok()) return Status::Corrupt("user.mkd.summary: malformed lineage");
  s.state = *state;
  s.epoch = static_cast<Epoch>(e);
  s.lineage = *l;
  if (const std::string* r = need("refused_writes")) ParseU64(*r, &s.refused_writes);
  return s;
}

Result<WantedPages> ParseWanted(std::string_view json, uint64_t block_pages) {
  auto bad = [](const std::string& why) {
    return Status::Corrupt("user.mkd.wanted: " + why + " (is this a mkd-memfs mount?)");
  };
  nlohmann::json d = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (d.is_discarded() || !d.is_object() || d.size() != 3 || !d.contains("state") ||
      !d.contains("missing") || !d.contains("pages")) {
    return bad("not {\"state\", \"missing\", \"pages\"}");
  }
  WantedPages w;
  if (!d["state"].is_string() || !d["missing"].is_number_unsigned() || !d["pages"].is_array() ||
      d["pages"].size() > kMaxWantPages) {
    return bad("a field has the wrong type or size");
  }
  w.state = d["state"].get<std::string>();
  if (w.state != "active" && w.state != "complete" && w.state != "failed") {
    return bad("unknown state");
  }
  w.missing = d["missing"].get<uint64_t>();
  for (const nlohmann::json& p : d["pages"]) {
    if (!p.is_number_unsigned() || p.get<uint64_t>() >= block_pages) return bad("bad page");
    w.pages.push_back(p.get<uint64_t>());
  }
  return w;
}

Result<PostcopyStatus> ParsePostcopyStatus(std::string_view json) {
  auto bad = [](const std::string& why) { return Status::Corrupt("user.mkd.postcopy: " + why); };
  nlohmann::json d = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (d.is_discarded() || !d.is_object()) return bad("not a JSON object");
  PostcopyStatus st;
  auto count = [&](const char* name, uint64_t* out) {
    if (!d.contains(name) || !d[name].is_number_unsigned()) return false;
    *out = d[name].get<uint64_t>();
    return true;
  };
  auto number = [&](const char* name, double* out) {
    if (!d.contains(name) || !d[name].is_number()) return false;
    *out = d[name].get<double>();
    return std::isfinite(*out) && *out >= 0;
  };
  if (!d.contains("state") || !d["state"].is_string()) return bad("no state");
  st.state = d["state"].get<std::string>();
  if (d.contains("reason") && d["reason"].is_string()) st.reason = d["reason"].get<std::string>();
  PostcopyDone& x = st.done;
  if (!count("missing", &st.missing) || !count("fetched", &x.fetched) ||
      !count("pushed", &x.pushed) || !count("skipped", &x.skipped) || !count("faults", &x.faults) ||
      !number("fault_median_ms", &x.fault_median_ms) || !number("fault_p99_ms", &x.fault_p99_ms) ||
      !number("fault_max_ms", &x.fault_max_ms) || !number("seconds", &x.seconds)) {
    return bad("a field is missing or malformed");
  }
  return st;
}

Result<RamFile> RamFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::NotFound(path + ": " + Errno(errno) +
                            " (is the VM running on this host with its RAM on mkd-memfs?)");
  }
  // A consumer name of its own for the dirty log: "mig-" and 12 random hex digits.
  return RamFile(
      path, fd,
      "mig-" + Uuid::Random().ToString().substr(0, 8) + Uuid::Random().ToString().substr(9, 4));
}

RamFile::RamFile(RamFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(other.fd_),
      consumer_(std::move(other.consumer_)),
      syncs_(other.syncs_),
      map_(other.map_),
      map_pages_(other.map_pages_) {
  other.fd_ = -1;
  other.map_ = nullptr;
}

RamFile& RamFile::operator=(RamFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    consumer_ = std::move(other.consumer_);
    syncs_ = other.syncs_;
    map_ = other.map_;
    map_pages_ = other.map_pages_;
    other.fd_ = -1;
    other.map_ = nullptr;
  }
  return *this;
}

RamFile::~RamFile() {
  Unmap();
  if (fd_ >= 0) ::close(fd_);
}

void RamFile::Unmap() {
  if (map_ != nullptr) ::munmap(const_cast<char*>(map_), map_pages_ * kPageSize);
  map_ = nullptr;
  map_pages_ = 0;
}

Status RamFile::MapForReading(uint64_t pages) {
  Unmap();
  if (pages == 0) return Status::Ok();
  void* p = ::mmap(nullptr, pages * kPageSize, PROT_READ, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) return Status::Io(path_ + ": mmap for reading: " + Errno(errno));
  map_ = static_cast<const char*>(p);
  map_pages_ = pages;
  return Status::Ok();
}

Result<std::string> RamFile::Get(const std::string& name) {
  std::string value(kMaxChunkSize, '\0');
  ssize_t n = ::fgetxattr(fd_, name.c_str(), value.data(), value.size());
  if (n < 0) {
    const int err = errno;
    Status s = err == ENODATA ? Status::NotFound(path_ + ": no " + name)
                              : Status::Io(path_ + ": getxattr " + name + ": " + Errno(err));
    return s;
  }
  value.resize(static_cast<size_t>(n));
  return value;
}

Status RamFile::Set(const std::string& name, std::string_view value) {
  if (::fsetxattr(fd_, name.c_str(), value.data(), value.size(), 0) != 0) {
    return SetxattrError(errno, path_, name, "the file");
  }
  return Status::Ok();
}

Result<std::string> RamFile::GetChunked(const std::string& base) {
  std::vector<std::string> chunks;
  Result<std::string> first = Get(base + ".0");
  if (!first.ok()) return first.status();
  Result<ChunkInfo> info = ParseChunk(*first);
  if (!info.ok()) return info.status().WithContext(path_ + ": " + base);
  chunks.push_back(std::move(*first));
  for (uint32_t i = 1; i < info->count; ++i) {
    Result<std::string> c = Get(base + "." + std::to_string(i));
    if (!c.ok()) return c.status();
    chunks.push_back(std::move(*c));
  }
  Result<std::string> blob = JoinChunks(chunks);
  if (!blob.ok()) return blob.status().WithContext(path_ + ": " + base);
  return blob;
}

Result<PageBitmap> RamFile::GetBitmap(const std::string& base) {
  Result<std::string> blob = GetChunked(base);
  if (!blob.ok()) return blob.status();
  Result<DecodedBitmap> bitmap = DecodeBitmap(*blob);
  if (!bitmap.ok()) return bitmap.status().WithContext(path_ + ": " + base);
  return std::move(bitmap->bitmap);
}

Result<RamFileSummary> RamFile::Summary() {
  Result<std::string> line = Get("user.mkd.summary");
  if (!line.ok()) return line.status();
  return ParseSummary(*line);
}

Result<PageBitmap> RamFile::Sync() {
  Result<std::string> counts = Get("user.mkd.sync." + consumer_);
  if (!counts.ok()) return counts.status();
  const bool is_new = counts->find(" new=1") != std::string::npos;
  if (counts->find(is_new ? " new=1" : " new=0") == std::string::npos) {
    return Status::Corrupt(path_ + ": user.mkd.sync." + consumer_ + " answered '" + *counts +
                           "' without new=0/1 (is mkd-memfs older than mkd-migrate?)");
  }
  if (is_new && syncs_ > 0) {
    return Status::FailedPrecondition(
        path_ +
        ": mkd-memfs lost this migration's dirty-log view (more processes than it keeps "
        "views for synced the file meanwhile): pages may be missing; retry the migration");
  }
  ++syncs_;
  return GetBitmap("user.mkd.synced." + consumer_);
}

Result<std::string> RamFile::TableBlob() { return GetChunked("user.mkd.table"); }

Result<GenerationTable> RamFile::Table() {
  Result<std::string> blob = TableBlob();
  if (!blob.ok()) return blob.status();
  Result<DecodedTable> t = DecodeTable(*blob);
  if (!t.ok()) return t.status().WithContext(path_ + ": user.mkd.table");
  return std::move(t->table);
}

Result<PageBitmap> RamFile::Reusable(std::string_view peer_table_blob) {
  const std::vector<std::string> chunks = SplitIntoChunks(peer_table_blob);
  for (size_t i = 0; i < chunks.size(); ++i) {
    MKD_RETURN_IF_ERROR(Set("user.mkd.peer_table." + std::to_string(i), chunks[i]));
  }
  return GetBitmap("user.mkd.reusable");
}

Result<std::string> RamFile::DigestsBlob() { return GetChunked("user.mkd.digests"); }

Status RamFile::ReceiveZeros(uint64_t first, uint64_t count, Generation gen) {
  return Set("user.mkd.receive", memfs::EncodeReceiveFrame(memfs::ReceiveKind::kZero, first,
                                                           static_cast<uint32_t>(count), gen, {}));
}

Status RamFile::ReceiveRuns(const std::vector<memfs::LaterRun>& runs, std::string_view data) {
  return Set("user.mkd.receive", memfs::EncodeRunsFrame(runs, data));
}

Status RamFile::ReceiveLater(const std::vector<GenRun>& runs) {
  for (size_t at = 0; at < runs.size(); at += memfs::kMaxLaterRuns) {
    std::vector<memfs::LaterRun> batch;
    for (size_t i = at; i < std::min(runs.size(), at + memfs::kMaxLaterRuns); ++i) {
      batch.push_back({runs[i].first, runs[i].count, runs[i].gen});
    }
    MKD_RETURN_IF_ERROR(Set("user.mkd.receive", memfs::EncodeLaterFrame(batch)));
  }
  return Status::Ok();
}

Result<WantedPages> RamFile::TakeWanted() {
  Result<std::string> v = Get("user.mkd.wanted");
  if (!v.ok()) return v.status();
  Result<RamFileSummary> s = Summary();
  if (!s.ok()) return s.status();
  return ParseWanted(*v, s->pages);
}

Result<PostcopyStatus> RamFile::Postcopy() {
  Result<std::string> v = Get("user.mkd.postcopy");
  if (!v.ok()) return v.status();
  return ParsePostcopyStatus(*v);
}

Status RamFile::FailPostcopy(std::string_view reason) {
  nlohmann::json doc = {{"fail", std::string(reason.substr(0, 500))}};
  return Set("user.mkd.postcopy",
             doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<std::string> RamFile::DirtyBlob() { return GetChunked("user.mkd.dirty"); }

Status RamFile::ReadPages(uint64_t first, uint64_t count, char* out) {
  if (map_ != nullptr) {
    if (first > map_pages_ || count > map_pages_ - first) {
      return Status::OutOfRange(path_ + ": pages " + std::to_string(first) + "+" +
                                std::to_string(count) + " beyond its " +
                                std::to_string(map_pages_) + " pages");
    }
    std::memcpy(out, map_ + first * kPageSize, count * kPageSize);
    return Status::Ok();
  }
  uint64_t done = 0;
  const uint64_t bytes = count * kPageSize;
  while (done < bytes) {
    ssize_t n =
        ::pread(fd_, out + done, bytes - done, static_cast<off_t>(first * kPageSize + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::Io(path_ + ": reading pages at " + std::to_string(first) + ": " +
                        (n < 0 ? Errno(errno) : std::string("end of file")));
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status RamFile::Fsync() {
  if (::fsync(fd_) != 0) return Status::Io(path_ + ": fsync: " + Errno(errno));
  return Status::Ok();
}

Status SetVmDirXattr(const std::string& vm_dir, const std::string& name, std::string_view value) {
  if (::setxattr(vm_dir.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
    return SetxattrError(errno, vm_dir, name, "the VM");
  }
  return Status::Ok();
}

}  // namespace mkd::migrate
