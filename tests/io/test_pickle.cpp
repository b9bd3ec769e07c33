// The pickle reader against files written by CPython's pickle (protocols 0-5, fixtures made by
// tools/reference/make_checkpoint_fixtures.py), its hooks, and its errors.
#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "xclip/core/error.hpp"
#include "xclip/io/pickle.hpp"

using namespace xclip;
using namespace xclip::io::pickle;

namespace {

std::string fixture(const std::string& name) { return (test::source_root() / "tests/fixtures/io" / name).string(); }

const Value& at(const ValuePtr& dict, const std::string& key) {
  ValuePtr v = dict->get(key);
  INFO("key " << key);
  REQUIRE(v != nullptr);
  return *v;
}

std::vector<int64_t> ints(const Value& seq) {
  std::vector<int64_t> out;
  for (const auto& v : seq.items) out.push_back(v->as_int());
  return out;
}

std::string bytes_of(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += char(c);
  return s;
}

}  // namespace

TEST_CASE("pickle: every value kind of CPython's protocols 0 to 5 reads back", "[io][pickle]") {
  for (int protocol = 0; protocol <= 5; ++protocol) {
    INFO("protocol " << protocol);
    ValuePtr root = load_file(fixture("pickle_p" + std::to_string(protocol) + ".pkl"));
    REQUIRE(root->kind == Kind::dict);
    CHECK(at(root, "none").is_none());
    CHECK(at(root, "true").kind == Kind::boolean);
    CHECK(at(root, "true").as_bool());
    CHECK_FALSE(at(root, "false").as_bool());
    CHECK(at(root, "small").as_int() == 7);
    CHECK(at(root, "neg").as_int() == -300);
    CHECK(at(root, "big").as_int() == (int64_t(1) << 40));
    CHECK(at(root, "min64").as_int() == INT64_MIN);
    CHECK(at(root, "max64").as_int() == INT64_MAX);
    CHECK(at(root, "float").as_number() == 1.5);
    CHECK(at(root, "negfloat").as_number() == -2.25e-10);
    CHECK(at(root, "str").as_string() == "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93");
    CHECK(at(root, "empty").as_string().empty());
    CHECK(at(root, "long_str").as_string() == std::string(300, 'x'));
    CHECK(at(root, "bytes").as_bytes() == bytes_of({0, 1, 0xff, 'a', 'b', 'c'}));
    CHECK(at(root, "bytearray").as_bytes() == "xyz");
    const Value& list = at(root, "list");
    REQUIRE(list.kind == Kind::list);
    CHECK(list.items[0]->as_int() == 1);
    CHECK(list.items[1]->items[1]->items[1]->as_sequence().empty());
    CHECK(ints(at(root, "tuple1")) == std::vector<int64_t>{1});
    CHECK(ints(at(root, "tuple2")) == std::vector<int64_t>{1, 2});
    CHECK(ints(at(root, "tuple3")) == std::vector<int64_t>{1, 2, 3});
    CHECK(ints(at(root, "tuple4")) == std::vector<int64_t>{1, 2, 3, 4});
    CHECK(at(root, "tuple4").kind == Kind::tuple);
    CHECK(at(root, "empty_tuple").as_sequence().empty());
    CHECK(at(root, "set").kind == Kind::set);
    CHECK(ints(at(root, "set")) == std::vector<int64_t>{1});
    CHECK(ints(at(root, "frozenset")) == std::vector<int64_t>{2});
    const Value& ordered = at(root, "ordered");
    REQUIRE(ordered.kind == Kind::dict);  // collections.OrderedDict is emulated as a dict
    REQUIRE(ordered.entries.size() == 2);
    CHECK(ordered.entries[0].first->as_string() == "b");
    CHECK(ordered.entries[1].second->as_int() == 2);
    const Value& intkeys = at(root, "intkeys");
    REQUIRE(intkeys.entries.size() == 2);
    CHECK(intkeys.entries[1].first->as_int() == 2);
    CHECK(intkeys.entries[1].second->as_string() == "two");
    const Value& shared = at(root, "shared");
    CHECK(shared.items[0].get() == shared.items[1].get());  // one object, referenced twice (memo)
    const Value& long_list = at(root, "long_list");
    REQUIRE(long_list.items.size() == 1500);  // APPENDS in batches of 1000
    CHECK(long_list.items[1499]->as_int() == 1499);
  }
}

TEST_CASE("pickle: an MSVD-style raw-captions.pkl (dict of token lists), protocols 2 and 4", "[io][pickle]") {
  for (int protocol : {2, 4}) {
    INFO("protocol " << protocol);
    ValuePtr root = load_file(fixture("raw_captions_p" + std::to_string(protocol) + ".pkl"));
    const auto& videos = root->as_dict();
    REQUIRE(videos.size() == 3);
    CHECK(videos[0].first->as_string() == "video0");
    const auto& captions = videos[0].second->as_sequence();
    REQUIRE(captions.size() == 2);
    std::vector<std::string> words;
    for (const auto& w : captions[1]->as_sequence()) words.push_back(w->as_string());
    CHECK(words == std::vector<std::string>{"someone", "sings", "a", "song"});
    CHECK(videos[2].first->as_string() == "vid\xc3\xa9o2");
    CHECK(videos[2].second->as_sequence()[0]->as_sequence()[0]->as_string() == "caf\xc3\xa9");
    CHECK(videos[2].second->as_sequence()[1]->as_sequence().empty());
  }
}

TEST_CASE("pickle: hooks see persistent ids and calls, and make native values", "[io][pickle]") {
  // PROTO 2; GLOBAL 'm f'; MARK; BININT1 7; BINPERSID; TUPLE; REDUCE; STOP  ->  f(pid(7))
  const std::string p = bytes_of({0x80, 2, 'c', 'm', '\n', 'f', '\n', '(', 'K', 7, 'Q', 't', 'R', '.'});
  Options opt;
  opt.persistent_load = [](const ValuePtr& pid) { return Value::make_native("test", "Storage", pid->as_int() * 10); };
  opt.reduce = [](const Value& callable, const ValuePtr& args, bool newobj) -> ValuePtr {
    if (callable.qualified_name() != "m.f" || newobj) return nullptr;
    return Value::make_int(std::any_cast<int64_t>(args->items[0]->parts->native) + 1);
  };
  CHECK(load(p, opt)->as_int() == 71);
  // Without hooks: the persistent id is an error, an unknown call a generic object.
  CHECK_THROWS_WITH(load(p), Catch::Contains("persistent_load"));
  const std::string call = bytes_of({0x80, 2, 'c', 'm', '\n', 'f', '\n', 'K', 3, 0x85, 'R', '.'});
  ValuePtr obj = load(call);
  REQUIRE(obj->kind == Kind::object);
  CHECK(obj->qualified_name() == "m.f");
  CHECK(obj->parts->args->items[0]->as_int() == 3);
  CHECK(obj->repr() == "m.f(3,)");
}

TEST_CASE("pickle: BUILD stores the state of objects and of dicts", "[io][pickle]") {
  // GLOBAL 'a B'; EMPTY_TUPLE; NEWOBJ; EMPTY_DICT; SHORT_BINUNICODE 'x'; BININT1 5; SETITEM; BUILD; STOP
  const std::string p = bytes_of({0x80, 2, 'c', 'a', '\n', 'B', '\n', ')', 0x81, '}', 0x8c, 1, 'x', 'K', 5, 's', 'b', '.'});
  ValuePtr obj = load(p);
  REQUIRE(obj->kind == Kind::object);
  CHECK(obj->parts->state->get("x")->as_int() == 5);
}

TEST_CASE("pickle: malformed input gives errors naming the source, offset and opcode", "[io][pickle]") {
  Options opt;
  opt.name = "bad.pkl";
  auto error_of = [&](const std::string& bytes) {
    try {
      load(bytes, opt);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of(""), Catch::Contains("bad.pkl") && Catch::Contains("truncated"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, 'a'})),
             Catch::Contains("truncated") && Catch::Contains("byte 2"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 0xfe, '.'})), Catch::Contains("unknown opcode") && Catch::Contains("0xfe"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 'h', 3, '.'})), Catch::Contains("memo key 3"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 'a', '.'})), Catch::Contains("stack underflow"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 'e', '.'})), Catch::Contains("MARK"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 'K', 1, 'K', 2, 'a', '.'})), Catch::Contains("APPEND to a int"));
  CHECK_THAT(error_of(bytes_of({0x80, 9, '.'})), Catch::Contains("protocol"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, '.'})), Catch::Contains("64 bits"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, '.'})), Catch::Contains("empty stack"));
  CHECK_THAT(error_of(bytes_of({0x80, 2, 0x97, '.'})), Catch::Contains("out-of-band"));
  CHECK_THAT(error_of(bytes_of({'K', 1, 'K', 2, 'R', '.'})), Catch::Contains("not a class or function"));
}

TEST_CASE("pickle: a million nested lists are read and freed without deep recursion", "[io][pickle]") {
  // n MARKs, one EMPTY_LIST, then n LISTs: each wraps everything above its mark in a new list.
  const int depth = 1000000;
  std::string p = bytes_of({0x80, 2});
  p.append(size_t(depth), '(');
  p += ']';
  p.append(size_t(depth), 'l');
  p += '.';
  ValuePtr v = load(p);
  int levels = 0;
  for (const Value* cur = v.get(); !cur->items.empty(); cur = cur->items[0].get()) ++levels;
  CHECK(levels == depth);
  CHECK(v->repr(40).size() <= 43);
}

TEST_CASE("pickle: typed access errors say what was expected and found", "[io][pickle]") {
  ValuePtr v = Value::make_list({Value::make_int(1)});
  CHECK_THROWS_WITH(v->as_string(), Catch::Contains("expected str") && Catch::Contains("list [1]"));
  CHECK(v->get("x") == nullptr);
  CHECK_THROWS_WITH(load_file(fixture("absent.pkl")), Catch::Contains("absent.pkl"));
}
