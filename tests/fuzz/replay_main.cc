// A main() for builds without libFuzzer: runs a fuzz target's LLVMFuzzerTestOneInput over every
// file named on the command line, and every regular file under each directory named (recursively,
// in name order), then prints how many inputs ran. A target's failed check aborts the process, so
// any other outcome than exit 0 is a failure; with -v each input's name is printed before it runs,
// which names the input that crashed.
// Usage: replay_<target> [-v] FILE_OR_DIR...
// Exit 0: every input ran; 1: a path is missing or unreadable, or there was no input at all.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// Appends the inputs under `path` to `inputs`; false (with a message) when it cannot.
bool CollectInputs(const fs::path& path, std::vector<fs::path>* inputs) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    inputs->push_back(path);
    return true;
  }
  if (!fs::is_directory(path, ec)) {
    std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", path.c_str());
    return false;
  }
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) found.push_back(it->path());
  }
  if (ec) {
    std::fprintf(stderr, "replay: cannot list %s: %s\n", path.c_str(), ec.message().c_str());
    return false;
  }
  std::sort(found.begin(), found.end());
  inputs->insert(inputs->end(), found.begin(), found.end());
  return true;
}

bool ReadFile(const fs::path& path, std::string* out) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) return false;
  out->resize(size);
  in.read(out->data(), static_cast<std::streamsize>(size));
  return static_cast<uintmax_t>(in.gcount()) == size;
}

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "-v") {
      verbose = true;
    } else if (!CollectInputs(argv[i], &inputs)) {
      return 1;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs (usage: %s [-v] FILE_OR_DIR...)\n", argv[0]);
    return 1;
  }

  std::string bytes;
  for (const fs::path& input : inputs) {
    if (!ReadFile(input, &bytes)) {
      std::fprintf(stderr, "replay: cannot read %s\n", input.c_str());
      return 1;
    }
    if (verbose)
      std::fprintf(stderr, "replay: running %s (%zu bytes)\n", input.c_str(), bytes.size());
    // Copied to an exact-size heap block, so that AddressSanitizer sees any read past the end.
    std::vector<uint8_t> data(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::printf("replay: %zu inputs ran\n", inputs.size());
  return 0;
}
