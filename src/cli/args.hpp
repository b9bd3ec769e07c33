// Minimal flag parser for xclip-cli: --name value, --name=value, boolean --flag; both `_` and `-`
// spellings are accepted (--max_words == --max-words). Unknown flags are an error naming the flag.
// "--" ends the options: every argument after it is positional.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace xclip::cli {

class Args {
 public:
  // `value_flags` take a value; `bool_flags` do not. Names without the leading dashes, with `_`.
  Args(const std::vector<std::string>& argv, const std::set<std::string>& value_flags,
       const std::set<std::string>& bool_flags);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  std::optional<std::string> get(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_double(const std::string& name, double fallback) const;
  bool flag(const std::string& name) const;
  // A boolean flag as given: true (--x, --x=1, --x=true), false (--x=0, --x=false) or absent.
  std::optional<bool> bool_value(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::set<std::string> false_flags_;  // given as --x=0 / --x=false
  std::vector<std::string> positional_;
};

// A flag's value as a whole integer / number; throws "--name expects ..., got 'text'".
int64_t parse_int_flag(const std::string& name, const std::string& text);
double parse_number_flag(const std::string& name, const std::string& text);

}  // namespace xclip::cli
