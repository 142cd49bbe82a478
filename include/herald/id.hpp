// SPDX-License-Identifier: MIT
#pragma once

#include <array>        // the 16 bytes of a UUID
#include <atomic>       // fork generation, read on every id
#include <chrono>       // the Unix-millisecond timestamp of UUIDv7
#include <cstdint>      // fixed-width fields
#include <string>       // text form
#include <string_view>  // parse

#if __has_include(<sys/random.h>) && __has_include(<pthread.h>)
#include <pthread.h>     // pthread_atfork: a forked child must not repeat its parent's ids
#include <sys/random.h>  // getrandom: seeds without <random>'s weight
#define HERALD_ID_POSIX 1
#else
#include <random>  // std::random_device seeds where getrandom is missing
#endif

namespace herald {

/// A 128-bit UUID. new_v7() makes RFC 9562 version 7 ids: a 48-bit Unix
/// millisecond timestamp first, so ids sort by creation time and storage
/// indexes stay append-friendly.
class uuid {
 public:
  std::array<std::uint8_t, 16> bytes{};

  /// A new UUIDv7. Within one thread ids strictly increase (RFC 9562 §6.2
  /// method 1: a 12-bit counter in rand_a, seeded randomly each millisecond);
  /// across threads and processes they are unique by 74 random bits.
  /// Thread-safe; fork-safe (a child reseeds).
  [[nodiscard]] static uuid new_v7();

  /// Parses the 8-4-4-4-12 hex form; returns false on anything else.
  [[nodiscard]] static bool parse(std::string_view text, uuid& out) noexcept;

  [[nodiscard]] int version() const noexcept { return bytes[6] >> 4; }

  /// The Unix time in milliseconds a v7 id carries.
  [[nodiscard]] std::uint64_t unix_ms() const noexcept {
    std::uint64_t ms = 0;
    for (int i = 0; i < 6; ++i) ms = (ms << 8) | bytes[static_cast<std::size_t>(i)];
    return ms;
  }

  /// Lowercase 8-4-4-4-12 hex, 36 characters.
  [[nodiscard]] std::string to_string() const {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(36, '-');
    std::size_t pos = 0;
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) ++pos;
      out[pos++] = hex[bytes[i] >> 4];
      out[pos++] = hex[bytes[i] & 0xf];
    }
    return out;
  }

  friend bool operator==(const uuid&, const uuid&) = default;
  friend auto operator<=>(const uuid&, const uuid&) = default;
};

/// A new UUIDv7 in text form: the default CloudEvents id.
[[nodiscard]] inline std::string new_id() { return uuid::new_v7().to_string(); }

namespace detail {

inline std::atomic<std::uint64_t> fork_generation{0};

inline std::uint64_t seed_entropy() {
  std::uint64_t seed = 0;
#if defined(HERALD_ID_POSIX)
  if (::getrandom(&seed, sizeof seed, 0) != static_cast<long>(sizeof seed)) {
    seed = static_cast<std::uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count());
  }
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
#else
  std::random_device device;
  seed = (std::uint64_t{device()} << 32) ^ device();
#endif
  return seed;
}

// xoshiro256** (Blackman & Vigna): fast, 256 bits of state, seeded per thread.
class id_generator {
 public:
  uuid next() {
    std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
    if (!seeded_ || generation != generation_) reseed(generation);

    auto now_ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    if (now_ms > last_ms_) {
      last_ms_ = now_ms;
      counter_ = static_cast<std::uint16_t>(random() & 0x7ff);  // top bit clear: room to count
    } else if (++counter_ > 0xfff) {
      // Counter exhausted or the clock went back: borrow the next millisecond
      // (RFC 9562 §6.2) so ids keep increasing.
      ++last_ms_;
      counter_ = static_cast<std::uint16_t>(random() & 0x7ff);
    }

    uuid id;
    for (int i = 0; i < 6; ++i) {
      id.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(last_ms_ >> (40 - 8 * i));
    }
    id.bytes[6] = static_cast<std::uint8_t>(0x70 | (counter_ >> 8));
    id.bytes[7] = static_cast<std::uint8_t>(counter_);
    std::uint64_t tail = random();
    id.bytes[8] = static_cast<std::uint8_t>(0x80 | ((tail >> 56) & 0x3f));  // RFC 9562 variant 10
    for (int i = 9; i < 16; ++i) {
      id.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(tail >> (8 * (15 - i)));
    }
    return id;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  std::uint64_t random() noexcept {
    std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  void reseed(std::uint64_t generation) {
    std::uint64_t x = seed_entropy() ^ reinterpret_cast<std::uintptr_t>(this);
    for (auto& word : state_) {  // splitmix64 spreads one seed over the state
      x += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
    seeded_ = true;
    generation_ = generation;
    last_ms_ = 0;
  }

  std::uint64_t state_[4]{};
  std::uint64_t last_ms_ = 0;
  std::uint64_t generation_ = 0;
  std::uint16_t counter_ = 0;
  bool seeded_ = false;
};

}  // namespace detail

inline uuid uuid::new_v7() {
  thread_local detail::id_generator generator;
  return generator.next();
}

inline bool uuid::parse(std::string_view text, uuid& out) noexcept {
  if (text.size() != 36) return false;
  std::size_t byte = 0;
  for (std::size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
      ++i;
      continue;
    }
    int value = 0;
    for (int half = 0; half < 2; ++half, ++i) {
      char c = text[i];
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
      if (digit < 0) return false;
      value = value * 16 + digit;
    }
    out.bytes[byte++] = static_cast<std::uint8_t>(value);
  }
  return true;
}

}  // namespace herald

#undef HERALD_ID_POSIX
