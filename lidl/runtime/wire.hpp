// The lidl wire format in C++ (specification: lidl/WIRE.md).
//
// Header-only, no exceptions, no RTTI, no heap in the encode/validate/view paths: encoding writes
// into caller-provided memory sized by compute_size(), validation walks the message once, and
// views read fields in place.  Decoding into owned types (std::string, std::vector) allocates,
// as those types do.  Every generated type T has a Codec<T> specialisation; Codec<T> for the
// builtin types lives here.  Builds with -fno-exceptions -fno-rtti for Cortex-M as well.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ambience::lidl {

static_assert(std::endian::native == std::endian::little, "lidl wire format assumes a little-endian host");

inline constexpr std::size_t kMaxDepth = 64;

constexpr std::size_t align_up(std::size_t n, std::size_t a) { return (n + a - 1) & ~(a - 1); }
constexpr std::size_t max_size(std::size_t a, std::size_t b) { return a > b ? a : b; }

template <class T>
inline T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <class T>
inline void store(std::byte* p, const T& v) {
  std::memcpy(p, &v, sizeof(T));
}

// Why a message was rejected; `none` means valid.
enum class WireError : std::uint8_t {
  none = 0,
  too_short,          // shorter than the root's inline part (or the envelope header)
  bad_header,         // magic, version or kind wrong
  misaligned_buffer,  // the message does not start at an 8-byte-aligned address
  bad_bool,
  bad_enum,
  bad_tag,
  bad_optional,
  bad_offset,   // non-zero offset for an empty sequence, or an offset that does not point forward
  misaligned,   // an out-of-line target not aligned for its type
  out_of_bounds,
  bad_utf8,
  too_deep,     // more than kMaxDepth out-of-line levels
  too_complex,  // validation budget exhausted (aliased data)
};

constexpr const char* to_string(WireError e) {
  switch (e) {
    case WireError::none: return "none";
    case WireError::too_short: return "too_short";
    case WireError::bad_header: return "bad_header";
    case WireError::misaligned_buffer: return "misaligned_buffer";
    case WireError::bad_bool: return "bad_bool";
    case WireError::bad_enum: return "bad_enum";
    case WireError::bad_tag: return "bad_tag";
    case WireError::bad_optional: return "bad_optional";
    case WireError::bad_offset: return "bad_offset";
    case WireError::misaligned: return "misaligned";
    case WireError::out_of_bounds: return "out_of_bounds";
    case WireError::bad_utf8: return "bad_utf8";
    case WireError::too_deep: return "too_deep";
    case WireError::too_complex: return "too_complex";
  }
  return "unknown";
}

// Encoder state over caller-provided memory that is at least compute_size() bytes long.
// Padding and alignment gaps are written as zero, so the output is canonical whatever the memory
// held before.
class Writer {
 public:
  Writer(std::byte* data, std::size_t root_size) : data_(data), end_(root_size) {}
  std::byte* at(std::size_t pos) const { return data_ + pos; }
  std::size_t end() const { return end_; }
  // Reserves n bytes aligned to `align` after everything written so far.
  std::size_t alloc(std::size_t n, std::size_t align) {
    const std::size_t start = align_up(end_, align);
    if (start != end_) std::memset(data_ + end_, 0, start - end_);
    end_ = start + n;
    return start;
  }
  void slot(std::size_t pos, std::uint32_t a, std::uint32_t b) {
    store<std::uint32_t>(data_ + pos, a);
    store<std::uint32_t>(data_ + pos + 4, b);
  }

 private:
  std::byte* data_;
  std::size_t end_;
};

// Validation state for one untrusted value area (positions are relative to its first byte).
class Validator {
 public:
  Validator(const std::byte* data, std::size_t length) : data_(data), length_(length), budget_(2 * length + 64) {}

  const std::byte* data() const { return data_; }
  std::size_t length() const { return length_; }
  WireError error() const { return error_; }
  std::size_t error_at() const { return error_at_; }

  bool fail(WireError e, std::size_t at) {
    if (error_ == WireError::none) {
      error_ = e;
      error_at_ = at;
    }
    return false;
  }
  bool spend(std::size_t n, std::size_t at) {
    if (n > budget_) return fail(WireError::too_complex, at);
    budget_ -= n;
    return true;
  }
  // Checks an (offset, count) slot; on success sets target/count (0/0 for an empty sequence).
  bool sequence(std::size_t at, std::size_t stride, std::size_t align, unsigned depth, std::size_t& target,
                std::uint32_t& count) {
    if (depth >= kMaxDepth) return fail(WireError::too_deep, at);
    const auto off = load<std::uint32_t>(data_ + at);
    count = load<std::uint32_t>(data_ + at + 4);
    if (count == 0) {
      target = 0;
      return off == 0 ? true : fail(WireError::bad_offset, at);
    }
    if (off < 8) return fail(WireError::bad_offset, at);
    target = at + off;
    if (target % align != 0) return fail(WireError::misaligned, at);
    if (stride == 0) {
      if (count > length_) return fail(WireError::out_of_bounds, at);
    } else if (target > length_ || count > (length_ - target) / stride) {
      return fail(WireError::out_of_bounds, at);
    }
    return spend(1, at);
  }

 private:
  const std::byte* data_;
  std::size_t length_;
  std::size_t budget_;
  WireError error_ = WireError::none;
  std::size_t error_at_ = 0;
};

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), as Python decodes it.
inline bool valid_utf8(const unsigned char* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
    i += len;
  }
  return true;
}

// Codec<T>: size/align of the inline part and how to measure, write, validate, read and view it.
// `bitwise` types have identical bytes in memory and on the wire (copied with memcpy);
// `fixed` types have no out-of-line data.
template <class T, class Enable = void>
struct Codec;

template <class T>
concept Scalar = std::is_arithmetic_v<T> && !std::is_same_v<T, char> && !std::is_same_v<T, long double>;

template <Scalar T>
struct Codec<T> {
  // Natural alignment (= size) on every target, whatever the C++ ABI says; generated plain structs
  // static_assert that their C++ layout matches.
  static constexpr std::size_t size = sizeof(T);
  static constexpr std::size_t align = sizeof(T);
  static constexpr bool fixed = true;
  static constexpr bool bitwise = true;
  static constexpr bool checks = std::is_same_v<T, bool>;  // needs per-value validation
  using View = T;
  static void measure(const T&, std::size_t&) {}
  static void write(Writer& w, std::size_t at, const T& v) { store<T>(w.at(at), v); }
  static bool validate(Validator& v, std::size_t at, unsigned) {
    if constexpr (std::is_same_v<T, bool>) {
      const auto b = std::to_integer<unsigned>(v.data()[at]);
      return b <= 1 ? true : v.fail(WireError::bad_bool, at);
    } else {
      (void)v;
      (void)at;
      return true;
    }
  }
  static void read(const std::byte* base, std::size_t at, T& out) { out = load<T>(base + at); }
  static View view(const std::byte* base, std::size_t at) { return load<T>(base + at); }
};

// Enums: generated code provides `lidl_valid(E)` found by ADL.
template <class E>
  requires std::is_enum_v<E>
struct Codec<E> {
  using U = std::underlying_type_t<E>;
  static constexpr std::size_t size = sizeof(U);
  static constexpr std::size_t align = sizeof(U);
  static constexpr bool fixed = true;
  static constexpr bool bitwise = true;
  static constexpr bool checks = true;
  using View = E;
  static void measure(const E&, std::size_t&) {}
  static void write(Writer& w, std::size_t at, const E& v) { store<U>(w.at(at), static_cast<U>(v)); }
  static bool validate(Validator& v, std::size_t at, unsigned) {
    return lidl_valid(static_cast<E>(load<U>(v.data() + at))) ? true : v.fail(WireError::bad_enum, at);
  }
  static void read(const std::byte* base, std::size_t at, E& out) { out = static_cast<E>(load<U>(base + at)); }
  static View view(const std::byte* base, std::size_t at) { return static_cast<E>(load<U>(base + at)); }
};

// A random-access view of a sequence of non-bitwise elements inside a validated message.
template <class T>
class SequenceView {
 public:
  SequenceView() = default;
  SequenceView(const std::byte* base, std::size_t at, std::size_t n) : base_(base), at_(at), n_(n) {}
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  typename Codec<T>::View operator[](std::size_t i) const { return Codec<T>::view(base_, at_ + i * Codec<T>::size); }

  class iterator {
   public:
    iterator(const SequenceView* v, std::size_t i) : v_(v), i_(i) {}
    typename Codec<T>::View operator*() const { return (*v_)[i_]; }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }

   private:
    const SequenceView* v_;
    std::size_t i_;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, n_}; }

 private:
  const std::byte* base_ = nullptr;
  std::size_t at_ = 0;
  std::size_t n_ = 0;
};

namespace detail {

template <class T>
inline constexpr bool bitwise_v = Codec<T>::bitwise;

// Validates `count` elements of T at `target` (only if T needs any checks).
template <class T>
bool validate_elements(Validator& v, std::size_t target, std::size_t count, unsigned depth) {
  if constexpr (Codec<T>::fixed && !Codec<T>::checks) {
    (void)v, (void)target, (void)count, (void)depth;
    return true;
  } else {
    if (!v.spend(count, target)) return false;
    for (std::size_t i = 0; i < count; ++i)
      if (!Codec<T>::validate(v, target + i * Codec<T>::size, depth)) return false;
    return true;
  }
}

// Shared by vector<T>, span<const T>, string, string_view.
template <class T>
void measure_seq(const T* items, std::size_t n, std::size_t& end) {
  if (n == 0) return;
  end = align_up(end, Codec<T>::align) + n * Codec<T>::size;
  if constexpr (!Codec<T>::fixed)
    for (std::size_t i = 0; i < n; ++i) Codec<T>::measure(items[i], end);
}

template <class T>
void write_seq(Writer& w, std::size_t at, const T* items, std::size_t n) {
  if (n == 0) {
    w.slot(at, 0, 0);
    return;
  }
  const std::size_t start = w.alloc(n * Codec<T>::size, Codec<T>::align);
  w.slot(at, static_cast<std::uint32_t>(start - at), static_cast<std::uint32_t>(n));
  if constexpr (Codec<T>::bitwise) {
    std::memcpy(w.at(start), items, n * Codec<T>::size);
  } else {
    for (std::size_t i = 0; i < n; ++i) Codec<T>::write(w, start + i * Codec<T>::size, items[i]);
  }
}

}  // namespace detail

// vector<scalar or enum> is viewed as a std::span; other elements through SequenceView.  Decided
// without completing Codec<T>, so that recursive types (struct Tree { children: vector<Tree>; })
// can name their own vector's View.
template <class T>
struct SequenceViewFor {
  using type = SequenceView<T>;
};
template <Scalar T>
struct SequenceViewFor<T> {
  using type = std::span<const T>;
};
template <class T>
  requires std::is_enum_v<T>
struct SequenceViewFor<T> {
  using type = std::span<const T>;
};

template <class T>
struct Codec<std::vector<T>> {
  static constexpr std::size_t size = 8;
  static constexpr std::size_t align = 4;
  static constexpr bool fixed = false;
  static constexpr bool bitwise = false;
  static constexpr bool checks = true;
  using View = typename SequenceViewFor<T>::type;
  static void measure(const std::vector<T>& v, std::size_t& end) { detail::measure_seq(v.data(), v.size(), end); }
  static void write(Writer& w, std::size_t at, const std::vector<T>& v) {
    detail::write_seq(w, at, v.data(), v.size());
  }
  static bool validate(Validator& v, std::size_t at, unsigned depth) {
    std::size_t target;
    std::uint32_t n;
    if (!v.sequence(at, Codec<T>::size, Codec<T>::align, depth, target, n)) return false;
    return detail::validate_elements<T>(v, target, n, depth + 1);
  }
  static void read(const std::byte* base, std::size_t at, std::vector<T>& out) {
    const auto off = load<std::uint32_t>(base + at);
    const auto n = load<std::uint32_t>(base + at + 4);
    if constexpr (Codec<T>::bitwise) {
      // One copy, no zero-fill first (resize() would write every byte twice).  The target is
      // aligned for T: validation checked it.
      const T* first = n ? reinterpret_cast<const T*>(base + at + off) : nullptr;
      out.assign(first, first + n);
    } else {
      out.resize(n);
      for (std::size_t i = 0; i < n; ++i) Codec<T>::read(base, at + off + i * Codec<T>::size, out[i]);
    }
  }
  static View view(const std::byte* base, std::size_t at) {
    const auto off = load<std::uint32_t>(base + at);
    const auto n = load<std::uint32_t>(base + at + 4);
    if constexpr (std::is_same_v<View, std::span<const T>>) {
      if (n == 0) return {};
      return std::span<const T>(reinterpret_cast<const T*>(base + at + off), n);
    } else {
      return SequenceView<T>(base, at + off, n);
    }
  }
};

// std::vector<bool> packs bits, so it is copied element by element (one byte per bool on the wire).
template <>
struct Codec<std::vector<bool>> {
  static constexpr std::size_t size = 8;
  static constexpr std::size_t align = 4;
  static constexpr bool fixed = false;
  static constexpr bool bitwise = false;
  static constexpr bool checks = true;
  using View = std::span<const bool>;
  static void measure(const std::vector<bool>& v, std::size_t& end) {
    if (!v.empty()) end += v.size();
  }
  static void write(Writer& w, std::size_t at, const std::vector<bool>& v) {
    if (v.empty()) {
      w.slot(at, 0, 0);
      return;
    }
    const std::size_t start = w.alloc(v.size(), 1);
    w.slot(at, static_cast<std::uint32_t>(start - at), static_cast<std::uint32_t>(v.size()));
    for (std::size_t i = 0; i < v.size(); ++i) w.at(start)[i] = std::byte{v[i] ? std::uint8_t{1} : std::uint8_t{0}};
  }
  static bool validate(Validator& v, std::size_t at, unsigned depth) {
    std::size_t target;
    std::uint32_t n;
    if (!v.sequence(at, 1, 1, depth, target, n)) return false;
    if (n && !v.spend(n, target)) return false;  // bool elements are checked, so they cost budget
    for (std::size_t i = 0; i < n; ++i)
      if (std::to_integer<unsigned>(v.data()[target + i]) > 1) return v.fail(WireError::bad_bool, target + i);
    return true;
  }
  static void read(const std::byte* base, std::size_t at, std::vector<bool>& out) {
    const auto off = load<std::uint32_t>(base + at);
    const auto n = load<std::uint32_t>(base + at + 4);
    out.assign(n, false);
    for (std::size_t i = 0; i < n; ++i) out[i] = std::to_integer<unsigned>(base[at + off + i]) == 1;
  }
  static View view(const std::byte* base, std::size_t at) {
    const auto off = load<std::uint32_t>(base + at);
    const auto n = load<std::uint32_t>(base + at + 4);
    if (n == 0) return {};
    return View(reinterpret_cast<const bool*>(base + at + off), n);
  }
};

// span<const T> (a `span<T>` parameter): encodes like vector<T>; read through view() only.
template <class T>
struct Codec<std::span<const T>> {
  static constexpr std::size_t size = 8;
  static constexpr std::size_t align = 4;
  static constexpr bool fixed = false;
  static constexpr bool bitwise = false;
  static constexpr bool checks = true;
  using View = std::span<const T>;
  static void measure(const std::span<const T>& v, std::size_t& end) { detail::measure_seq(v.data(), v.size(), end); }
  static void write(Writer& w, std::size_t at, const std::span<const T>& v) {
    detail::write_seq(w, at, v.data(), v.size());
  }
  static bool validate(Validator& v, std::size_t at, unsigned depth) {
    return Codec<std::vector<T>>::validate(v, at, depth);
  }
  static void read(const std::byte* base, std::size_t at, std::span<const T>& out) { out = view(base, at); }
  static View view(const std::byte* base, std::size_t at) {
    const auto off = load<std::uint32_t>(base + at);
    const auto n = load<std::uint32_t>(base + at + 4);
    if (n == 0) return {};
    return std::span<const T>(reinterpret_cast<const T*>(base + at + off), n);
  }
};

template <class S>
struct StringCodec {
  static constexpr std::size_t size = 8;
  static constexpr std::size_t align = 4;
  static constexpr bool fixed = false;
  static constexpr bool bitwise = false;
  static constexpr bool checks = true;
  using View = std::string_view;
  static void measure(const S& v, std::size_t& end) {
    if (!v.empty()) end += v.size();
  }
  static void write(Writer& w, std::size_t at, const S& v) {
    if (v.empty()) {
      w.slot(at, 0, 0);
      return;
    }
    const std::size_t start = w.alloc(v.size(), 1);
    w.slot(at, static_cast<std::uint32_t>(start - at), static_cast<std::uint32_t>(v.size()));
    std::memcpy(w.at(start), v.data(), v.size());
  }
  static bool validate(Validator& v, std::size_t at, unsigned depth) {
    std::size_t target;
    std::uint32_t n;
    if (!v.sequence(at, 1, 1, depth, target, n)) return false;
    if (!valid_utf8(reinterpret_cast<const unsigned char*>(v.data() + target), n))
      return v.fail(WireError::bad_utf8, target);
    return true;
  }
  static View view(const std::byte* base, std::size_t at) {
    const auto off = load<std::uint32_t>(base + at);
    const auto n = load<std::uint32_t>(base + at + 4);
    if (n == 0) return {};
    return std::string_view(reinterpret_cast<const char*>(base + at + off), n);
  }
  static void read(const std::byte* base, std::size_t at, S& out) { out = S(view(base, at)); }
};

template <>
struct Codec<std::string> : StringCodec<std::string> {};
template <>
struct Codec<std::string_view> : StringCodec<std::string_view> {};

template <class T, std::size_t N>
struct Codec<std::array<T, N>> {
  static constexpr std::size_t size = N * Codec<T>::size;
  static constexpr std::size_t align = Codec<T>::align;
  static constexpr bool fixed = Codec<T>::fixed;
  static constexpr bool bitwise = Codec<T>::bitwise && sizeof(std::array<T, N>) == size;
  static constexpr bool checks = Codec<T>::checks;
  static constexpr bool span_view = std::is_same_v<typename SequenceViewFor<T>::type, std::span<const T>>;
  using View = std::conditional_t<span_view, std::span<const T, N>, SequenceView<T>>;
  static void measure(const std::array<T, N>& v, std::size_t& end) {
    if constexpr (!fixed)
      for (const auto& x : v) Codec<T>::measure(x, end);
  }
  static void write(Writer& w, std::size_t at, const std::array<T, N>& v) {
    if constexpr (bitwise) {
      std::memcpy(w.at(at), v.data(), size);
    } else {
      for (std::size_t i = 0; i < N; ++i) Codec<T>::write(w, at + i * Codec<T>::size, v[i]);
    }
  }
  static bool validate(Validator& v, std::size_t at, unsigned depth) {
    if constexpr (fixed && !checks) {
      (void)v, (void)at, (void)depth;
      return true;
    } else {
      for (std::size_t i = 0; i < N; ++i)
        if (!Codec<T>::validate(v, at + i * Codec<T>::size, depth)) return false;
      return true;
    }
  }
  static void read(const std::byte* base, std::size_t at, std::array<T, N>& out) {
    if constexpr (bitwise) {
      std::memcpy(out.data(), base + at, size);
    } else {
      for (std::size_t i = 0; i < N; ++i) Codec<T>::read(base, at + i * Codec<T>::size, out[i]);
    }
  }
  static View view(const std::byte* base, std::size_t at) {
    if constexpr (span_view) {
      return std::span<const T, N>(reinterpret_cast<const T*>(base + at), N);
    } else {
      return SequenceView<T>(base, at, N);
    }
  }
};

// A view of an optional<T> inside a message.
template <class T>
class OptionalView {
 public:
  OptionalView() = default;
  OptionalView(const std::byte* base, std::size_t at, bool present) : base_(base), at_(at), present_(present) {}
  bool has_value() const { return present_; }
  explicit operator bool() const { return present_; }
  typename Codec<T>::View value() const { return Codec<T>::view(base_, at_); }
  typename Codec<T>::View operator*() const { return value(); }

 private:
  const std::byte* base_ = nullptr;
  std::size_t at_ = 0;
  bool present_ = false;
};

template <class T>
struct Codec<std::optional<T>> {
  static constexpr std::size_t value_at = Codec<T>::align;
  static constexpr std::size_t size = align_up(value_at + Codec<T>::size, Codec<T>::align);
  static constexpr std::size_t align = Codec<T>::align;
  static constexpr bool fixed = Codec<T>::fixed;
  static constexpr bool bitwise = false;
  static constexpr bool checks = true;
  using View = OptionalView<T>;
  static void measure(const std::optional<T>& v, std::size_t& end) {
    if constexpr (!fixed)
      if (v) Codec<T>::measure(*v, end);
  }
  static void write(Writer& w, std::size_t at, const std::optional<T>& v) {
    if (v) {
      std::memset(w.at(at), 0, value_at);
      w.at(at)[0] = std::byte{1};
      Codec<T>::write(w, at + value_at, *v);
      constexpr std::size_t tail = size - value_at - Codec<T>::size;
      if constexpr (tail > 0) std::memset(w.at(at + value_at + Codec<T>::size), 0, tail);
    } else {
      std::memset(w.at(at), 0, size);
    }
  }
  static bool validate(Validator& v, std::size_t at, unsigned depth) {
    const auto b = std::to_integer<unsigned>(v.data()[at]);
    if (b > 1) return v.fail(WireError::bad_optional, at);
    return b == 0 || Codec<T>::validate(v, at + value_at, depth);
  }
  static void read(const std::byte* base, std::size_t at, std::optional<T>& out) {
    if (std::to_integer<unsigned>(base[at]) == 0) {
      out.reset();
      return;
    }
    T value{};
    Codec<T>::read(base, at + value_at, value);
    out = std::move(value);
  }
  static View view(const std::byte* base, std::size_t at) {
    return View(base, at + value_at, std::to_integer<unsigned>(base[at]) == 1);
  }
};

// Helpers used by generated union codecs: the variant's value lives out of line.
struct UnionSlot {
  static std::uint32_t tag(const std::byte* base, std::size_t at) { return load<std::uint32_t>(base + at); }
  static std::size_t target(const std::byte* base, std::size_t at) { return at + load<std::uint32_t>(base + at + 4); }
  // Checks the slot for a variant of the given size/alignment (the tag is checked by the caller).
  static bool check(Validator& v, std::size_t at, std::size_t vsize, std::size_t valign, unsigned depth) {
    if (depth >= kMaxDepth) return v.fail(WireError::too_deep, at);
    const auto off = load<std::uint32_t>(v.data() + at + 4);
    if (off < 8) return v.fail(WireError::bad_offset, at);
    const std::size_t target = at + off;
    if (target % valign != 0) return v.fail(WireError::misaligned, at);
    if (target > v.length() || vsize > v.length() - target) return v.fail(WireError::out_of_bounds, at);
    return v.spend(1, at);
  }
  template <class T>
  static void write(Writer& w, std::size_t at, std::uint32_t tag, const T& value) {
    const std::size_t start = w.alloc(Codec<T>::size, Codec<T>::align);
    w.slot(at, tag, static_cast<std::uint32_t>(start - at));
    Codec<T>::write(w, start, value);
  }
  template <class T>
  static void measure(const T& value, std::size_t& end) {
    end = align_up(end, Codec<T>::align) + Codec<T>::size;
    Codec<T>::measure(value, end);
  }
};

// ---------------------------------------------------------------------------------------------
// Whole values.

template <class T>
std::size_t compute_size(const T& value) {
  std::size_t end = Codec<T>::size;
  Codec<T>::measure(value, end);
  return end;
}

// Writes the canonical encoding of `value` into `out`; returns the length, or 0 if `out` is
// smaller than compute_size(value).
template <class T>
std::size_t encode(const T& value, std::span<std::byte> out) {
  const std::size_t n = compute_size(value);
  if (out.size() < n) return 0;
  Writer w(out.data(), Codec<T>::size);
  Codec<T>::write(w, 0, value);
  return w.end();
}

inline bool aligned8(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 7u) == 0; }

template <class T>
WireError validate(std::span<const std::byte> in) {
  if (!aligned8(in.data())) return WireError::misaligned_buffer;
  if (in.size() < Codec<T>::size) return WireError::too_short;
  Validator v(in.data(), in.size());
  Codec<T>::validate(v, 0, 0);
  return v.error();
}

// Validates, then reads into an owned value.
template <class T>
WireError decode(std::span<const std::byte> in, T& out) {
  const WireError e = validate<T>(in);
  if (e != WireError::none) return e;
  Codec<T>::read(in.data(), 0, out);
  return WireError::none;
}

// A view of a message that validate<T>() accepted.
template <class T>
typename Codec<T>::View view(std::span<const std::byte> in) {
  return Codec<T>::view(in.data(), 0);
}

// Static sharers for the IPC layer: copy small values, and know which types are plain memory.
// compute_size() is exact, so the IPC layer can reserve arena space before share() writes the
// canonical encoding there; the callee reads it in place through Codec<T>::View.  For `plain`
// types (identical bytes in memory and on the wire) the value itself can be shared read-only.
template <class T>
struct Sharer {
  static constexpr bool plain = Codec<T>::bitwise && Codec<T>::fixed;
  static std::size_t compute_size(const T& value) { return lidl::compute_size(value); }
  static std::size_t share(const T& value, std::span<std::byte> dest) { return lidl::encode(value, dest); }
};

}  // namespace ambience::lidl
