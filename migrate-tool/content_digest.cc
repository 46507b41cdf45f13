// SHA-256 of a page through OpenSSL (see content_digest.h). Touches nothing but OpenSSL.
#include "migrate-tool/content_digest.h"

#include <openssl/evp.h>

#include "base/check.h"
#include "genstore/generation.h"

namespace mkd::migrate {

namespace {

// Fetched once: EVP_sha256() would look the algorithm up in the provider on every call.
// Never freed (one per process).
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  MKD_CHECK(md != nullptr);
  return md;
}

}  // namespace

Sha256 PageSha256(const void* page) {
  Sha256 out;
  unsigned int len = 0;
  MKD_CHECK(EVP_Digest(page, kPageSize, out.data(), &len, Sha256Md(), nullptr) == 1);
  MKD_CHECK(len == out.size());
  return out;
}

}  // namespace mkd::migrate
