#include "util/hash.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace dataflow::util {

namespace {

/// Inputs from this size up are hashed by the digest use_sha256() installed, when there is one
/// (OpenSSL's, which uses the CPU's SHA extensions); smaller ones here: OpenSSL's first digest
/// in a process costs about 0.35 ms (it loads its default provider).
constexpr std::size_t k_accelerated_from = 64 * 1024;

std::atomic<Sha256> g_sha256{nullptr};

constexpr std::array<std::uint32_t, 64> k_round = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::uint32_t rotr(std::uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

/// FIPS 180-4 SHA-256: one 64-byte block into the state `h`.
void compress(std::array<std::uint32_t, 8>& h, const unsigned char* block) {
    std::array<std::uint32_t, 64> w{};
    for (std::size_t i = 0; i < 16; ++i) {
        w[i] = static_cast<std::uint32_t>(block[4 * i]) << 24 |
               static_cast<std::uint32_t>(block[4 * i + 1]) << 16 |
               static_cast<std::uint32_t>(block[4 * i + 2]) << 8 |
               static_cast<std::uint32_t>(block[4 * i + 3]);
    }
    for (std::size_t i = 16; i < 64; ++i) {
        const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::array<std::uint32_t, 8> v = h; // a b c d e f g h
    for (std::size_t i = 0; i < 64; ++i) {
        const std::uint32_t t1 = v[7] + (rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25)) +
                                 ((v[4] & v[5]) ^ (~v[4] & v[6])) + k_round[i] + w[i];
        const std::uint32_t t2 = (rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22)) +
                                 ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        v = {t1 + t2, v[0], v[1], v[2], v[3] + t1, v[4], v[5], v[6]};
    }
    for (std::size_t i = 0; i < 8; ++i) {
        h[i] += v[i];
    }
}

std::array<unsigned char, 32> sha256_own(std::string_view data) {
    std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    for (; n >= 64; p += 64, n -= 64) {
        compress(h, p);
    }
    // The rest, 0x80, zeros and the length in bits, big-endian: one block or two.
    std::array<unsigned char, 128> tail{};
    if (n > 0) {
        std::memcpy(tail.data(), p, n);
    }
    tail[n] = 0x80;
    const std::size_t blocks = n < 56 ? 1 : 2;
    const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
    for (std::size_t i = 0; i < 8; ++i) {
        tail[blocks * 64 - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
    }
    for (std::size_t b = 0; b < blocks; ++b) {
        compress(h, tail.data() + 64 * b);
    }
    std::array<unsigned char, 32> out{};
    for (std::size_t i = 0; i < 8; ++i) {
        for (std::size_t j = 0; j < 4; ++j) {
            out[4 * i + j] = static_cast<unsigned char>(h[i] >> (24 - 8 * j));
        }
    }
    return out;
}

} // namespace

void use_sha256(Sha256 digest) {
    g_sha256.store(digest, std::memory_order_release);
}

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, 32> digest{};
    auto accelerated = g_sha256.load(std::memory_order_acquire);
    if (data.size() < k_accelerated_from || accelerated == nullptr) {
        digest = sha256_own(data);
    } else {
        accelerated(data, digest.data());
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(digest.size() * 2);
    for (auto byte : digest) {
        out += hex[byte >> 4];
        out += hex[byte & 0xF];
    }
    return out;
}

} // namespace dataflow::util
