// Fuzzing the readers with a few thousand damaged inputs (truncations, bit flips, overwritten and
// inserted bytes; fixed seeds, so every run sees the same inputs): each must either load or throw
// xclip::Error. Anything else — another exception type, a crash, a hang — fails the test. Loaded
// tensors are read in full, so a view past the end of its data would be caught too (and by ASan).
#include <catch2/catch.hpp>

#include <random>

#include "../../src/io/torch_pickle.hpp"
#include "../../src/io/torch_state_dict.hpp"
#include "io_test_helpers.hpp"
#include "xclip/io/checkpoint.hpp"
#include "xclip/io/pickle.hpp"
#include "xclip/io/zip.hpp"

using namespace xclip;
using namespace xclip::io;

namespace {

using Bytes = std::vector<uint8_t>;
struct Range {
  size_t begin, end;
};

// Damages a copy of `in`; positions fall in `hot` (the structure: headers, directories, pickles)
// three times out of four, anywhere otherwise.
class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  Bytes mutate(const Bytes& in, const std::vector<Range>& hot) {
    Bytes b = in;
    if (b.empty()) return b;
    switch (pick(5)) {
      case 0: b.resize(pick(b.size())); break;  // truncation
      case 1:                                   // a few bit flips
        for (size_t n = 1 + pick(8); n-- > 0;) b[position(b, hot)] ^= uint8_t(1u << pick(8));
        break;
      case 2: {  // an interesting value
        static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, '(', '.', 'X', ']'};
        b[position(b, hot)] = values[pick(sizeof values)];
        break;
      }
      case 3: {  // a byte inserted or removed: everything after it shifts
        const size_t p = position(b, hot);
        if (pick(2)) b.insert(b.begin() + std::ptrdiff_t(p), uint8_t(pick(256)));
        else b.erase(b.begin() + std::ptrdiff_t(p));
        break;
      }
      default:  // a 4-byte little-endian field overwritten with a large number
        const size_t p = position(b, hot);
        const uint32_t v = pick(2) ? 0xffffffffu : uint32_t(rng_());
        for (size_t i = 0; i < 4 && p + i < b.size(); ++i) b[p + i] = uint8_t(v >> (8 * i));
    }
    return b;
  }

 private:
  size_t pick(size_t n) { return n == 0 ? 0 : size_t(rng_() % n); }
  size_t position(const Bytes& b, const std::vector<Range>& hot) {
    if (!hot.empty() && pick(4) != 0) {
      const Range& r = hot[pick(hot.size())];
      const size_t p = r.begin + pick(r.end - r.begin);
      if (p < b.size()) return p;
    }
    return pick(b.size());
  }
  std::mt19937_64 rng_;
};

struct Outcome {
  int loaded = 0, rejected = 0;
};

// Runs `load` on `count` mutations of `original`; any exception that is not xclip::Error fails.
Outcome fuzz(const std::string& what, const Bytes& original, const std::vector<Range>& hot, int count, uint64_t seed,
             const std::function<void(const Bytes&)>& load) {
  Mutator m(seed);
  Outcome out;
  for (int i = 0; i < count; ++i) {
    const Bytes damaged = m.mutate(original, hot);
    try {
      load(damaged);
      ++out.loaded;
    } catch (const Error&) {
      ++out.rejected;
    } catch (const std::exception& e) {
      FAIL(what << " mutation " << i << ": " << typeid(e).name() << ": " << e.what());
    }
  }
  INFO(what << ": " << out.loaded << " loaded, " << out.rejected << " rejected");
  CHECK(out.rejected > 0);
  return out;
}

// Reads every byte of every tensor (a view past its data would fault here).
void touch(const NamedTensors& t) {
  uint32_t sum = 0;
  for (const auto& [name, x] : t) sum += test::crc_of(x) + uint32_t(name.size());
  (void)sum;
}

void load_checkpoint_bytes(const Bytes& b) { touch(load_any_checkpoint(FileBytes::from_buffer(b, "fuzz.bin"))); }

// data.pkl alone, through the torch hooks and the state-dict walk, with zero-filled storages.
void load_torch_pickle(const Bytes& b, bool script) {
  const std::string_view view(reinterpret_cast<const char*>(b.data()), b.size());
  std::vector<std::shared_ptr<std::vector<uint8_t>>> buffers;
  auto result = io::detail::unpickle_torch(view, "fuzz.pkl", 1 << 20, [&](io::detail::StorageRef& ref) {
    buffers.push_back(std::make_shared<std::vector<uint8_t>>(ref.numel * dtype_size(ref.dtype)));
    ref.storage = Storage::wrap(buffers.back()->data(), buffers.back()->size(), Device::cpu, buffers.back());
  });
  std::vector<std::string> notes;
  const auto specs = script ? io::detail::script_module_state_dict(
                                  *result.root, [](const std::string&, const std::string&) { return std::nullopt; },
                                  "fuzz.pkl", notes)
                            : io::detail::saved_object_state_dict(*result.root, "fuzz.pkl", notes);
  NamedTensors t;
  for (const auto& [name, v] : specs) t.set(name, io::detail::materialize(io::detail::tensor_spec(*v), "fuzz.pkl", name));
  touch(t);
}

Bytes data_pkl_of(const std::string& file) {
  ZipArchive zip = ZipArchive::open(test::io_fixture(file));
  for (const auto& e : zip.entries())
    if (e.name.size() > 9 && e.name.compare(e.name.size() - 9, 9, "/data.pkl") == 0) {
      const std::string s = zip.read(e);
      return Bytes(s.begin(), s.end());
    }
  FAIL("no data.pkl in " << file);
  return {};
}

// The central directory and end records of a zip archive.
std::vector<Range> zip_structure(const std::string& file, size_t size) {
  ZipArchive zip = ZipArchive::open(test::io_fixture(file));
  uint64_t last_data_end = 0;
  std::vector<Range> hot;
  for (const auto& e : zip.entries()) {
    last_data_end = std::max(last_data_end, e.data_offset + e.compressed_size);
    const size_t header = size_t(e.data_offset) - std::min<size_t>(size_t(e.data_offset), 30 + e.name.size() + 8);
    hot.push_back({header, size_t(e.data_offset)});  // local headers
  }
  hot.push_back({size_t(last_data_end), size});  // central directory and end records
  return hot;
}

}  // namespace

TEST_CASE("fuzz: damaged ZIP archives (TorchScript, deflated) give loads or clean errors", "[io][fuzz]") {
  for (const char* file : {"tiny_clip.scripted.pt", "views_deflated.pt", "views_zip64.pt"}) {
    const Bytes original = test::read_bytes(test::io_fixture(file));
    fuzz(file, original, zip_structure(file, original.size()), 700, 11, load_checkpoint_bytes);
  }
}

TEST_CASE("fuzz: damaged torch pickles (torch.save and TorchScript data.pkl) give loads or clean errors",
          "[io][fuzz]") {
  const Bytes saved = data_pkl_of("tiny_clip.state_dict.pt");
  fuzz("state_dict data.pkl", saved, {{0, saved.size()}}, 800, 12, [](const Bytes& b) { load_torch_pickle(b, false); });
  const Bytes script = data_pkl_of("tiny_clip.scripted.pt");
  fuzz("TorchScript data.pkl", script, {{0, script.size()}}, 800, 13,
       [](const Bytes& b) { load_torch_pickle(b, true); });
}

TEST_CASE("fuzz: damaged legacy torch files give loads or clean errors", "[io][fuzz]") {
  const Bytes original = test::read_bytes(test::io_fixture("views_legacy.pt"));
  fuzz("views_legacy.pt", original, {{0, original.size()}}, 600, 14, load_checkpoint_bytes);
}

TEST_CASE("fuzz: damaged safetensors give loads or clean errors", "[io][fuzz]") {
  const Bytes original = test::read_bytes(test::io_fixture("tiny_clip.hf.safetensors"));
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | original[size_t(i)];
  fuzz("tiny_clip.hf.safetensors", original, {{0, size_t(8 + header)}}, 700, 15, load_checkpoint_bytes);
}

TEST_CASE("fuzz: damaged plain pickles give values or clean errors", "[io][fuzz]") {
  for (int protocol : {0, 2, 4}) {
    const std::string file = "pickle_p" + std::to_string(protocol) + ".pkl";
    const Bytes original = test::read_bytes(test::io_fixture(file));
    fuzz(file, original, {{0, original.size()}}, 400, 16 + uint64_t(protocol), [](const Bytes& b) {
      pickle::Options opt;
      opt.name = "fuzz.pkl";
      pickle::ValuePtr v = pickle::load(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), opt);
      (void)v->repr(200);
    });
  }
}
