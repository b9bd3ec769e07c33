// The GPU dtype conversion (Tensor::to(DType) on a CUDA tensor, cuda/convert.cu) against the CPU
// conversion for every pair of element types, Tensor::move_to_, and the gradient-norm kernels
// (sum_squares, scale_by) against their CPU twins, plus clip_grad_norm on the device.
#include "cuda_test_util.hpp"

#ifdef XCLIP_WITH_CUDA
#include "xclip/core/tensor.hpp"
#include "xclip/train/optimizer.hpp"

using namespace xclip;
using namespace xclip::test;

namespace {

const DType kAll[] = {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8};

// Values every type can hold without undefined behaviour in the conversion to any other: small
// non-negative integers and halves, plus values that round differently in f16 and bf16.
Tensor source_values(DType t) {
  std::vector<double> v;
  for (int i = 0; i < 200; ++i) v.push_back(double(i % 97) * (is_floating(t) ? 0.5 : 1.0));
  for (double x : {1.0009765625, 3.14159265358979, 65504.0 / 1024, 1e-5, 0.1, 2.0 / 3.0}) v.push_back(x);
  return Tensor::from_vector(v, Shape{int64_t(v.size())}).to(t);
}

}  // namespace

TEST_CASE("dtype conversion on the GPU matches the CPU conversion for every pair", "[cuda][convert]") {
  XCLIP_REQUIRE_GPU();
  for (DType from : kAll)
    for (DType to : kAll) {
      const Tensor src = source_values(from);
      const Tensor want = src.to(to);
      const Tensor got = src.to(Device::cuda).to(to);
      INFO(dtype_name(from) << " -> " << dtype_name(to));
      REQUIRE(got.device() == Device::cuda);
      REQUIRE(got.dtype() == to);
      const Tensor back = got.to(Device::cpu);
      REQUIRE(back.nbytes() == want.nbytes());
      CHECK(std::memcmp(back.raw_data(), want.raw_data(), want.nbytes()) == 0);
    }
}

TEST_CASE("move_to_ keeps the tensor object, its name, requires_grad and gradient", "[cuda][convert]") {
  XCLIP_REQUIRE_GPU();
  Tensor p = Tensor::from_vector<float>({1, 2, 3}, Shape{3});
  p.set_requires_grad(true).set_name("w");
  p.set_grad(Tensor::from_vector<float>({4, 5, 6}, Shape{3}));
  Tensor alias = p;  // another handle, as a module field or an optimizer group holds
  p.move_to_(Device::cuda);
  CHECK(alias.device() == Device::cuda);
  CHECK(alias.grad().device() == Device::cuda);
  CHECK(alias.requires_grad());
  CHECK(alias.name() == "w");
  CHECK(alias.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(alias.grad().to_vector<float>() == std::vector<float>{4, 5, 6});
  alias.move_to_(Device::cpu);
  CHECK(p.device() == Device::cpu);
  CHECK(p.to_vector<float>() == std::vector<float>{1, 2, 3});
}

TEMPLATE_TEST_CASE("sum_squares and scale_by on the GPU match their CPU twins", "[cuda][norm]", float, double) {
  XCLIP_REQUIRE_GPU();
  using T = TestType;
  for (int64_t n : {1, 255, 256 * 1024 + 3, 5 * 1000 * 1000 + 11}) {
    const auto x = random_vector<T>(size_t(n), uint32_t(n));
    DeviceBuffer<T> dx(x);
    const double want = cpu::sum_squares<T>(x.data(), n);
    const double got = cuda::sum_squares<T>(dx.get(), n);
    INFO("n = " << n);
    CHECK(std::abs(got - want) <= 1e-12 * want);
    std::vector<T> scaled = x;
    cpu::scale_by<T>(scaled.data(), n, 0.3712);
    cuda::scale_by<T>(dx.get(), n, 0.3712);
    expect_equal(dx.download(), scaled, "scale_by");  // one product in double, one rounding
  }
  CHECK(cuda::sum_squares<T>(nullptr, 0) == 0.0);
}

TEST_CASE("clip_grad_norm on CUDA gradients matches the CPU", "[cuda][norm]") {
  XCLIP_REQUIRE_GPU();
  Generator gen(5);
  std::vector<Tensor> cpu_params, gpu_params;
  for (int64_t n : {7, 4097, 33}) {
    Tensor p = Tensor::randn(Shape{n}, gen);
    p.set_requires_grad(true);
    p.set_grad(Tensor::randn(Shape{n}, gen, DType::f32, 0.0, 3.0));
    Tensor q = p.clone();
    q.set_requires_grad(true);
    q.set_grad(p.grad().clone());
    q.move_to_(Device::cuda);
    cpu_params.push_back(p);
    gpu_params.push_back(q);
  }
  const double want = train::clip_grad_norm(cpu_params, 1.0);
  const double got = train::clip_grad_norm(gpu_params, 1.0);
  CHECK(std::abs(got - want) <= 1e-12 * want);
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    REQUIRE(gpu_params[i].grad().device() == Device::cuda);
    expect_close(gpu_params[i].grad().to_vector<float>(), cpu_params[i].grad().to_vector<float>(), 1e-6,
                 "clipped gradient " + std::to_string(i));
  }
}

#endif  // XCLIP_WITH_CUDA
