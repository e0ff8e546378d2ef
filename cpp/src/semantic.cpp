// SPDX-License-Identifier: Apache-2.0
#include "semantic.hpp"

#include <algorithm>

#include "host_memory.hpp"

namespace maskformer {

LinearTaps linear_taps(int64_t in, int64_t out) {
  LinearTaps t;
  t.first.resize(out);
  t.second.resize(out);
  t.w_first.resize(out);
  t.w_second.resize(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t d = 0; d < out; ++d) {
    float src = scale * (static_cast<float>(d) + 0.5f) - 0.5f;
    if (src < 0.f) src = 0.f;
    const int64_t i0 = static_cast<int64_t>(src);
    const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    const float l1 = src - static_cast<float>(i0);
    t.first[d] = i0;
    t.second[d] = i1;
    t.w_first[d] = 1.f - l1;
    t.w_second[d] = l1;
  }
  return t;
}

namespace {

// The taps of one axis as tensors on the device, for the whole axis (columns) or a range (rows).
struct DeviceTaps {
  at::Tensor first, second, w_first, w_second;
};

DeviceTaps to_device(const LinearTaps& t, int64_t begin, int64_t end, int64_t base,
                     const at::Device& device, at::IntArrayRef weight_shape) {
  const int64_t n = end - begin;
  at::Tensor idx = at::empty({2, n}, at::TensorOptions().dtype(at::kLong));
  at::Tensor w = at::empty({2, n}, at::TensorOptions().dtype(at::kFloat));
  auto* ip = idx.data_ptr<int64_t>();
  auto* wp = w.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    ip[i] = t.first[begin + i] - base;
    ip[n + i] = t.second[begin + i] - base;
    wp[i] = t.w_first[begin + i];
    wp[n + i] = t.w_second[begin + i];
  }
  if (!device.is_cpu()) {
    idx = idx.to(device);
    w = w.to(device);
  }
  return {idx[0], idx[1], w[0].view(weight_shape), w[1].view(weight_shape)};
}

// x (C, R, W) -> (C, R, taps) along the last axis; then rows: (C, R, W') -> (C, taps, W').
// Columns first, then rows: the order of PyTorch's bilinear kernels, so the rounding matches.
at::Tensor lerp(const at::Tensor& x, const DeviceTaps& t, int64_t dim) {
  at::Tensor a = x.index_select(dim, t.first).mul_(t.w_first);
  return a.add_(x.index_select(dim, t.second).mul_(t.w_second));
}

}  // namespace

void semantic_outputs(const at::Tensor& logits, const at::Tensor& masks, int net_h, int net_w,
                      int out_h, int out_w, int num_classes, const OutputView& out,
                      int64_t band_bytes) {
  const at::Device device = logits.device();
  const bool on_cpu = device.is_cpu();
  const int64_t q = logits.size(0), k = num_classes;
  const int64_t mh = masks.size(1), mw = masks.size(2);
  const bool resized = net_h != out_h || net_w != out_w;

  at::Tensor probs = logits.softmax(-1).narrow(1, 0, k).t().contiguous();  // K, Q
  const LinearTaps up_y = linear_taps(mh, net_h), up_x = linear_taps(mw, net_w);
  const LinearTaps down_y = linear_taps(net_h, out_h), down_x = linear_taps(net_w, out_w);
  const DeviceTaps up_cols = to_device(up_x, 0, net_w, 0, device, {1, 1, net_w});
  DeviceTaps down_cols;
  if (resized) down_cols = to_device(down_x, 0, out_w, 0, device, {1, 1, out_w});

  const auto label_dtype = out.label_type == MF_LABEL_U8 ? at::kByte : at::kInt;
  at::Tensor caller_labels =
      at::from_blob(out.labels, {out_h, out_w}, at::TensorOptions().dtype(label_dtype));
  at::Tensor caller_scores;
  if (out.scores != nullptr)
    caller_scores = at::from_blob(out.scores, {k, out_h, out_w}, at::TensorOptions().dtype(at::kFloat));
  const bool pinned_labels = !on_cpu && host_buffer_is_pinned(out.labels, out.labels_size);
  const bool pinned_scores =
      !on_cpu && out.scores != nullptr && host_buffer_is_pinned(out.scores, out.scores_size);

  // rows per band: the band's class scores at output width (and at network width) within budget
  const int64_t row_bytes = k * std::max<int64_t>(out_w, net_w) * int64_t(sizeof(float)) * 2;
  const int64_t band = std::max<int64_t>(1, std::min<int64_t>(out_h, band_bytes / row_bytes));

  for (int64_t y0 = 0; y0 < out_h; y0 += band) {
    const int64_t y1 = std::min<int64_t>(out_h, y0 + band);
    // network rows the band reads, then the mask rows those read
    const int64_t r0 = resized ? down_y.first[y0] : y0;
    const int64_t r1 = resized ? down_y.second[y1 - 1] : y1 - 1;
    const int64_t m0 = up_y.first[r0], m1 = up_y.second[r1];
    // mask logits -> network resolution for rows r0..r1 -> sigmoid
    at::Tensor mrows = masks.narrow(1, m0, m1 - m0 + 1);  // Q, MR, w'
    at::Tensor up = lerp(mrows, up_cols, 2);               // Q, MR, net_w
    up = lerp(up, to_device(up_y, r0, r1 + 1, m0, device, {1, r1 - r0 + 1, 1}), 1);
    up.sigmoid_();
    const int64_t rows = r1 - r0 + 1;
    at::Tensor seg = probs.mm(up.view({q, rows * net_w})).view({k, rows, net_w});
    at::Tensor scores = seg;  // K, band rows, out_w
    if (resized) {
      at::Tensor cols = lerp(seg, down_cols, 2);  // K, rows, out_w
      scores = lerp(cols, to_device(down_y, y0, y1, r0, device, {1, y1 - y0, 1}), 1);
    }
    at::Tensor labels = scores.argmax(0).to(label_dtype);
    caller_labels.narrow(0, y0, y1 - y0).copy_(labels, /*non_blocking=*/pinned_labels);
    if (caller_scores.defined())
      caller_scores.narrow(1, y0, y1 - y0).copy_(scores, /*non_blocking=*/pinned_scores);
  }
}

}  // namespace maskformer
