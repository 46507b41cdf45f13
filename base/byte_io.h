// Little-endian byte writing and bounds-checked reading for our binary encodings (genstore's
// codecs, the wire frames). ByteReader never reads past its span: every Read* returns false instead.
#ifndef MKD_BASE_BYTE_IO_H_
#define MKD_BASE_BYTE_IO_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace mkd::internal {

static_assert(std::endian::native == std::endian::little,
              "the encodings are little-endian and written with memcpy; port ByteWriter first");

template <typename T>
inline void AppendLe(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

template <typename T>
inline void StoreLe(char* dst, T v) {
  std::memcpy(dst, &v, sizeof(T));
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }

  template <typename T>
  bool Read(T* v) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  // The next n bytes, without copying.
  bool ReadBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace mkd::internal

#endif  // MKD_BASE_BYTE_IO_H_
