// guest_util.h: the small toolkit every static guest program shares.
//
// Guest programs run as children of /init inside a busybox initramfs (see README.md). They talk to
// the host only through machine-readable lines on stdout, which /init routes to the serial console:
//     MKD <program> <event> key=value ...
// System tests and benchmarks on the host match these lines with regular expressions, so a line is
// always written with a single write(2) and never interleaved with another line.
//
// Everything here is single-threaded; nothing allocates after start-up except ArgParser.
#ifndef MIYAKODORI_TESTS_GUEST_GUEST_UTIL_H_
#define MIYAKODORI_TESTS_GUEST_GUEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace mkdguest {

// Writes "MKD <formatted text>\n" to stdout with one write(2). Text longer than 1 KiB is truncated.
void Emit(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Writes "<program>: <formatted text>\n" to stderr and exits with status 2 (usage or setup error).
[[noreturn]] void Die(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Seconds on CLOCK_MONOTONIC. Guest time keeps running across a live migration.
double MonotonicSeconds();

// Sleeps until MonotonicSeconds() >= deadline (returns at once if it already is).
void SleepUntil(double deadline);

// Never returns: keeps the process (and so the workload's memory) alive so the VM can be migrated
// after the workload finished.
[[noreturn]] void IdleForever();

// Blocks until a line arrives on stdin (the serial console when started by /init). Returns false on
// end of file. Lets the host trigger a phase of a workload after a migration.
bool WaitForInputLine();

// Maps `bytes` of private anonymous memory, faulted in (MAP_POPULATE). Dies on failure.
uint8_t* MapMemory(uint64_t bytes);

// splitmix64: a tiny, fast, well-mixed generator; also used as a hash of (index, sweep) pairs.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A xorshift-style stream seeded from the clock or a fixed seed; good enough for filling memory.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return SplitMix64(state_++); }
  // Uniform in [0, bound); bound > 0. The modulo bias is irrelevant for page picking.
  uint64_t Below(uint64_t bound) { return Next() % bound; }

 private:
  uint64_t state_;
};

// Parses "--name value" and "--flag" options. Every option must be consumed by a getter before
// Finish(), which dies on unknown options so a typo in mkd.args is an error, not a silent default.
class ArgParser {
 public:
  ArgParser(const char* program, int argc, char** argv);
  // Value of --name as an unsigned integer, or `fallback` when absent. Dies when not a number or
  // above `max`.
  uint64_t Uint(const char* name, uint64_t fallback, uint64_t max);
  // Value of --name as a string, or `fallback` when absent.
  std::string String(const char* name, const std::string& fallback);
  // True when --name was given (without value).
  bool Flag(const char* name);
  // Dies when an option was not consumed.
  void Finish();

 private:
  struct Option {
    std::string name;
    std::string value;
    bool has_value = false;
    bool used = false;
  };
  Option* Find(const char* name);

  std::vector<Option> options_;
};

}  // namespace mkdguest

#endif  // MIYAKODORI_TESTS_GUEST_GUEST_UTIL_H_
