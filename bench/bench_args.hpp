// The command line of a benchmark, one loop for all of them (bench/ only, header-only): each flag
// is bound to a field of the benchmark's options. A flag with a value takes the next argument
// (numbers must be whole numbers, or decimals for a double field); a switch sets its bool. An
// unknown argument, a missing value or a malformed number calls the benchmark's `fail` with the
// reason; `fail` prints its usage and exits, or throws: it does not return.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace xclip::bench {

// "PROGRAM: WHY" and the usage text on stderr, then exit status 2: how a benchmark answers a
// command line it cannot run.
[[noreturn]] inline void exit_with_usage(const char* program, const char* usage, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n%s", program, why.c_str(), usage);
  std::exit(2);
}

class Args {
 public:
  using Fail = std::function<void(const std::string& why)>;
  explicit Args(Fail fail) : fail_(std::move(fail)) {}
  Args(const Args&) = delete;  // the bound setters point into this object
  Args& operator=(const Args&) = delete;

  Args& value(const std::string& name, std::string& out) {
    return add(name, true, [&out](const std::string& v) { out = v; });
  }
  Args& value(const std::string& name, std::filesystem::path& out) {
    return add(name, true, [&out](const std::string& v) { out = v; });
  }
  Args& value(const std::string& name, int& out) { return number(name, out); }
  Args& value(const std::string& name, int64_t& out) { return number(name, out); }
  Args& value(const std::string& name, double& out) { return number(name, out); }
  // A flag without a value: sets `out` to `to` (`--no-torch` sets torch to false).
  Args& flag(const std::string& name, bool& out, bool to = true) {
    return add(name, false, [&out, to](const std::string&) { out = to; });
  }
  // Arguments that do not start with "--" are collected in `out` instead of being errors.
  Args& positional(std::vector<std::string>& out) {
    positional_ = &out;
    return *this;
  }

  void parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto it = flags_.find(a);
      if (it == flags_.end()) {
        if (positional_ && !a.starts_with("--")) {
          positional_->push_back(a);
          continue;
        }
        fail("unknown argument " + a);
      }
      given_.insert(a);
      if (!it->second.takes_value) {
        it->second.set("");
        continue;
      }
      if (i + 1 >= argc) fail(a + " needs a value");
      it->second.set(argv[++i]);
    }
  }

  // Whether `name` was on the command line (a default that depends on what was given).
  bool given(const std::string& name) const { return given_.count(name) > 0; }

 private:
  struct Flag {
    bool takes_value;
    std::function<void(const std::string&)> set;
  };

  Args& add(const std::string& name, bool takes_value, std::function<void(const std::string&)> set) {
    flags_[name] = Flag{takes_value, std::move(set)};
    return *this;
  }

  template <class T>
  Args& number(const std::string& name, T& out) {
    return add(name, true, [this, name, &out](const std::string& v) {
      size_t used = 0;
      T parsed{};
      try {
        if constexpr (std::is_same_v<T, double>) parsed = std::stod(v, &used);
        else if constexpr (std::is_same_v<T, int>) parsed = std::stoi(v, &used);
        else parsed = std::stoll(v, &used);
      } catch (const std::exception&) {
        used = 0;  // not a number, or out of range
      }
      if (used == 0 || used != v.size()) fail(name + " needs a number, got '" + v + "'");
      out = parsed;
    });
  }

  [[noreturn]] void fail(const std::string& why) const {
    fail_(why);
    std::abort();  // `fail` returned: a benchmark bug, not a user error
  }

  Fail fail_;
  std::map<std::string, Flag> flags_;
  std::set<std::string> given_;
  std::vector<std::string>* positional_ = nullptr;
};

}  // namespace xclip::bench
