// memfs_iobench: host-side throughput of the file system that holds guest RAM, measured the way
// QEMU uses the file. scripts/bench-memfs runs it on a memfs mount and, for reference, on a tmpfs.
//
// One run creates a file of --mb MiB (on memfs it must be <mount>/<vm-uuid>/<block>) and times:
//   touch      mmap(MAP_SHARED), then write every byte of every page. First touch: on memfs the
//              kernel first reads each page from the daemon (a hole), then makes it writable.
//   writeback  fsync(2): the kernel writes every dirty page back. On memfs these are the FUSE
//              WRITEs the daemon stores in its page store: this is the daemon's write throughput.
//              On tmpfs there is nothing to write back.
//   read       the file's page cache dropped (posix_fadvise DONTNEED: the pages are clean and
//              unmapped by then), a new descriptor reads the file with read(2), 1 MiB a call. On
//              memfs: FUSE READs of readahead size. Every page's content is checked.
//   fault      the cache dropped again, mmap(MAP_SHARED, PROT_READ) and one load per page: how a
//              QEMU meets guest RAM that is not in the page cache.
// The first descriptor (the writer) stays open throughout, so a memfs block stays live and later
// readers share its page cache, as a migration tool reading a running VM's file does.
//
// Output: one JSON object on stdout, per phase: seconds, GB/s (1e9 bytes per second), this
// process's CPU seconds (user + system: what the tool itself cost), with --daemon-pid the daemon's
// CPU seconds (from /proc/PID/stat), and before read and fault the pages still cached after the
// drop (mincore; on tmpfs all of them, as its page cache is the storage). Errors: a message on
// stderr and exit status 1 (2 for usage). Single-threaded.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kReadChunk = 1 << 20;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "memfs_iobench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// utime + stime of a process, in seconds; -1 when it cannot be read (or pid is 0).
double ProcessCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name start at 3 (state); utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The byte every byte of page p holds: never zero (memfs keeps zero pages as holes, another path).
uint8_t Pattern(uint64_t p) { return static_cast<uint8_t>(1 + (p * 7) % 255); }

// Pages of the file that are in the page cache.
uint64_t CachedPages(int fd, uint64_t bytes) {
  void* map = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) Fail("mmap for mincore");
  std::vector<unsigned char> vec(bytes / kPage);
  if (mincore(map, bytes, vec.data()) != 0) Fail("mincore");
  munmap(map, bytes);
  uint64_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

void DropCache(int fd) {
  if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) Fail("posix_fadvise(DONTNEED)");
}

// One timed phase: wall time and the CPU both processes spent in it.
class Phase {
 public:
  Phase(const char* name, uint64_t bytes, int daemon_pid)
      : name_(name), bytes_(bytes), pid_(daemon_pid) {
    daemon_cpu_ = ProcessCpuSeconds(pid_);
    self_cpu_ = SelfCpuSeconds();
    start_ = Now();
  }
  // Appends `"name": {...}` to out.
  void End(std::string* out, const std::string& extra = "") {
    const double seconds = Now() - start_;
    const double self = SelfCpuSeconds() - self_cpu_;
    const double daemon_after = ProcessCpuSeconds(pid_);
    const double daemon = daemon_cpu_ >= 0 && daemon_after >= 0 ? daemon_after - daemon_cpu_ : -1;
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "%s\"%s\": {\"seconds\": %.6f, \"gbps\": %.4f, \"self_cpu_s\": %.3f, "
                  "\"daemon_cpu_s\": %.3f%s}",
                  out->size() > 1 ? ", " : "", name_, seconds,
                  static_cast<double>(bytes_) / seconds / 1e9, self, daemon, extra.c_str());
    *out += buf;
  }

 private:
  const char* name_;
  uint64_t bytes_;
  int pid_;
  double daemon_cpu_ = -1, self_cpu_ = 0, start_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  uint64_t mb = 1024;
  int daemon_pid = 0;
  CLI::App app{
      "memfs_iobench: times first touch, write-back (fsync), read(2) and page faults of "
      "a new file on a memfs mount or a tmpfs; prints JSON (see the source's header)"};
  app.add_option("--file", path, "the file to create (must not exist)")->required();
  app.add_option("--mb", mb, "size in MiB")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--daemon-pid", daemon_pid, "also report this process's CPU time per phase");
  CLI11_PARSE(app, argc, argv);

  const uint64_t bytes = mb << 20;
  const uint64_t pages = bytes / kPage;
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) Fail("creating " + path);
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) Fail("ftruncate " + path);

  std::string json = "{";
  auto* map =
      static_cast<uint8_t*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  if (map == MAP_FAILED) Fail("mmap " + path);
  {
    Phase phase("touch", bytes, daemon_pid);
    for (uint64_t p = 0; p < pages; ++p) std::memset(map + p * kPage, Pattern(p), kPage);
    phase.End(&json);
  }
  {
    Phase phase("writeback", bytes, daemon_pid);
    if (fsync(fd) != 0) Fail("fsync " + path);
    phase.End(&json);
  }
  if (munmap(map, bytes) != 0) Fail("munmap");

  DropCache(fd);
  uint64_t cached = CachedPages(fd, bytes);
  {
    const int reader = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (reader < 0) Fail("opening " + path + " for reading");
    std::vector<uint8_t> buf(kReadChunk);
    uint64_t bad = 0, done = 0;
    Phase phase("read", bytes, daemon_pid);
    while (done < bytes) {
      const ssize_t n = read(reader, buf.data(), kReadChunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Fail("reading " + path);
      if (n == 0 || n % static_cast<ssize_t>(kPage) != 0) {
        std::fprintf(stderr, "memfs_iobench: short read at %llu: %zd bytes\n",
                     static_cast<unsigned long long>(done), n);
        return 1;
      }
      for (ssize_t off = 0; off < n; off += static_cast<ssize_t>(kPage)) {
        const uint8_t want = Pattern((done + static_cast<uint64_t>(off)) / kPage);
        bad += buf[static_cast<size_t>(off)] != want ||
               buf[static_cast<size_t>(off) + kPage - 1] != want;
      }
      done += static_cast<uint64_t>(n);
    }
    phase.End(&json, ", \"cached_pages_before\": " + std::to_string(cached));
    close(reader);
    if (bad != 0) {
      std::fprintf(stderr, "memfs_iobench: %llu pages read back wrong\n",
                   static_cast<unsigned long long>(bad));
      return 1;
    }
  }

  DropCache(fd);
  cached = CachedPages(fd, bytes);
  {
    auto* ro =
        static_cast<const volatile uint8_t*>(mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0));
    if (ro == MAP_FAILED) Fail("mmap " + path + " for reading");
    uint64_t bad = 0;
    Phase phase("fault", bytes, daemon_pid);
    for (uint64_t p = 0; p < pages; ++p) bad += ro[p * kPage] != Pattern(p);
    phase.End(&json, ", \"cached_pages_before\": " + std::to_string(cached));
    munmap(const_cast<uint8_t*>(ro), bytes);
    if (bad != 0) {
      std::fprintf(stderr, "memfs_iobench: %llu pages faulted in wrong\n",
                   static_cast<unsigned long long>(bad));
      return 1;
    }
  }
  if (close(fd) != 0) Fail("close " + path);
  std::printf("%s, \"mb\": %llu, \"pages\": %llu}\n", json.c_str(),
              static_cast<unsigned long long>(mb), static_cast<unsigned long long>(pages));
  return 0;
}
