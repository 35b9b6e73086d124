#include "runtime/hosted/lidl_binding.hpp"

#include <cctype>
#include <charconv>

namespace ambience::hosted {

namespace {
bool is_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}
}  // namespace

bool parse_placements(std::string_view text, std::vector<Placement>& out, PlacementError& error) {
  int line_no = 0;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    ++line_no;
    at = end + 1;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    // Split into whitespace-separated words, remembering columns.
    std::vector<std::pair<std::string_view, int>> words;
    for (std::size_t i = 0; i < line.size();) {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      const std::size_t start = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
      if (i > start) words.emplace_back(line.substr(start, i - start), static_cast<int>(start) + 1);
    }
    if (words.empty()) {
      if (end == text.size()) break;
      continue;
    }
    auto fail = [&](int column, std::string message) {
      error = PlacementError{line_no, column, std::move(message)};
      return false;
    };
    if (words.size() != 3) return fail(1, "expected: <instance> caller|kernel|group:<name> target=<id>");
    Placement p;
    if (!is_name(words[0].first)) return fail(words[0].second, "bad instance name");
    p.instance = std::string(words[0].first);
    const std::string_view where = words[1].first;
    if (where == "caller") {
      p.where = Placement::Where::caller;
    } else if (where == "kernel") {
      p.where = Placement::Where::kernel;
    } else if (where.substr(0, 6) == "group:" && is_name(where.substr(6))) {
      p.where = Placement::Where::group;
      p.group = std::string(where.substr(6));
    } else {
      return fail(words[1].second, "placement must be caller, kernel or group:<name>");
    }
    const std::string_view target = words[2].first;
    if (target.substr(0, 7) != "target=") return fail(words[2].second, "expected target=<id>");
    const auto digits = target.substr(7);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p.target);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
      return fail(words[2].second + 7, "target must be an unsigned number");
    }
    if (find_placement(out, p.instance) != nullptr) return fail(words[0].second, "instance placed twice");
    out.push_back(std::move(p));
    if (end == text.size()) break;
  }
  return true;
}

const Placement* find_placement(const std::vector<Placement>& placements, std::string_view instance) {
  for (const auto& p : placements) {
    if (p.instance == instance) return &p;
  }
  return nullptr;
}

}  // namespace ambience::hosted
