#include "args.hpp"

#include <algorithm>

#include "xclip/core/error.hpp"

namespace xclip::cli {

static std::string canonical(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

Args::Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
           const std::set<std::string>& bool_flags) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    // "--" ends the options (POSIX): everything after it is positional, so a caption or a file
    // name that starts with "--" can be passed.
    if (a == "--") {
      positional_.insert(positional_.end(), argv.begin() + std::ptrdiff_t(i) + 1, argv.end());
      break;
    }
    if (a.size() < 3 || a[0] != '-' || a[1] != '-') {
      positional_.push_back(a);
      continue;
    }
    std::string body = a.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      inline_value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    std::string name = canonical(body);
    if (bool_flags.count(name)) {
      XCLIP_CHECK(!inline_value || *inline_value == "1" || *inline_value == "true" || *inline_value == "0" ||
                      *inline_value == "false",
                  "flag --", body, " takes no value (got '", *inline_value, "')");
      const bool on = !inline_value || *inline_value == "1" || *inline_value == "true";
      (on ? flags_ : false_flags_).insert(name);
      (on ? false_flags_ : flags_).erase(name);  // the last one given wins
      continue;
    }
    XCLIP_CHECK(value_flags.count(name), "unknown flag --", body);
    if (inline_value) {
      values_[name] = *inline_value;
    } else {
      XCLIP_CHECK(i + 1 < argv.size(), "flag --", body, " needs a value");
      values_[name] = argv[++i];
    }
  }
}

std::optional<bool> Args::bool_value(const std::string& name) const {
  if (flags_.count(name)) return true;
  if (false_flags_.count(name)) return false;
  return std::nullopt;
}

bool Args::has(const std::string& name) const { return values_.count(name) || flags_.count(name); }

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

int64_t parse_int_flag(const std::string& name, const std::string& text) {
  try {
    size_t used = 0;
    const int64_t x = std::stoll(text, &used);
    if (used == text.size()) return x;
  } catch (...) {
  }
  throw Error(format("--", name, " expects an integer, got '", text, "'"));
}

double parse_number_flag(const std::string& name, const std::string& text) {
  try {
    size_t used = 0;
    const double x = std::stod(text, &used);
    if (used == text.size()) return x;
  } catch (...) {
  }
  throw Error(format("--", name, " expects a number, got '", text, "'"));
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  auto v = get(name);
  return v ? parse_int_flag(name, *v) : fallback;
}

double Args::get_double(const std::string& name, double fallback) const {
  auto v = get(name);
  return v ? parse_number_flag(name, *v) : fallback;
}

bool Args::flag(const std::string& name) const { return flags_.count(name) > 0; }

}  // namespace xclip::cli
