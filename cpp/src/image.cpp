// SPDX-License-Identifier: Apache-2.0
#include "image.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "device_tables.hpp"
#include "error.hpp"
#include "host_memory.hpp"

namespace maskformer {

std::pair<int, int> keep_ratio_size(int height, int width, int long_side, int short_side) {
  double lo = std::min(long_side, short_side), hi = std::max(long_side, short_side);
  double scale = std::min(hi / std::max(height, width), lo / std::min(height, width));
  // a side that would round to 0 (a 32768x1 frame under 2048/512) stays 1 pixel
  return {std::max(1, static_cast<int>(height * scale + 0.5)), std::max(1, static_cast<int>(width * scale + 0.5))};
}

at::Tensor image_to_device(const ImageView& image, const at::Device& device, bool pinned) {
  const int64_t c = image.channels;
  const int64_t span = (image.height - 1) * image.stride + image.width * c;
  auto bytes = at::TensorOptions().dtype(at::kByte);
  // from_blob borrows the caller's memory: nothing is copied on the CPU
  at::Tensor flat = at::from_blob(const_cast<uint8_t*>(image.data), {span}, bytes);
  if (!device.is_cpu()) flat = flat.to(device, /*non_blocking=*/pinned);
  return flat.as_strided({image.height, image.width, c}, {image.stride, c, 1});
}

std::vector<at::Tensor> yuv_planes_to_device(const ImageView& image, const at::Device& device) {
  const int64_t h = image.height, w = image.width, ch = image.chroma_height(), cw = image.chroma_width();
  const int n = 1 + image.chroma_buffers;
  const uint8_t* begin[3] = {image.data, image.chroma_data[0], image.chroma_data[1]};
  const int64_t span[3] = {image.span(), image.chroma_span[0], image.chroma_span[1]};
  // one window over every buffer when it holds little else (planes of one frame buffer)
  const uint8_t* lo = begin[0];
  const uint8_t* hi = begin[0] + span[0];
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, begin[i]);
    hi = std::max(hi, begin[i] + span[i]);
    total += span[i];
  }
  auto bytes = at::TensorOptions().dtype(at::kByte);
  auto upload = [&](const uint8_t* p, int64_t size) {
    at::Tensor flat = at::from_blob(const_cast<uint8_t*>(p), {size}, bytes);  // borrows caller memory
    if (device.is_cpu()) return flat;
    return flat.to(device, /*non_blocking=*/host_buffer_is_pinned(p, size));
  };
  at::Tensor window;
  const bool one = !device.is_cpu() && hi - lo <= total + total / 4;
  if (one) window = upload(lo, hi - lo);
  // the tensor over plane i's buffer, and where `p` lies in it
  at::Tensor buffer[3];
  for (int i = 0; i < n; ++i) buffer[i] = one ? window : upload(begin[i], span[i]);
  auto view = [&](int i, const uint8_t* p, int64_t rows, int64_t cols, int64_t stride, int64_t step) {
    const int64_t offset = p - (one ? lo : begin[i]);
    return buffer[i].as_strided({rows, cols}, {stride, step}, buffer[i].storage_offset() + offset);
  };
  at::Tensor y = view(0, image.data, h, w, image.stride, 1);
  const int ui = 1, vi = image.chroma_buffers == 2 ? 2 : 1;
  at::Tensor u = view(ui, image.u, ch, cw, image.u_stride, image.chroma_step);
  at::Tensor v = view(vi, image.v, ch, cw, image.v_stride, image.chroma_step);
  return {y, u, v};
}

namespace {

struct Taps {
  std::vector<int64_t> first, second;  // source indices
  std::vector<int32_t> w_first, w_second;  // weights in 1/2048
};

// One axis of OpenCV's linear resize. Along x, OpenCV pins out-of-range taps to the border with
// weights (2048, 0); along y it clamps only the row indices and keeps both weights. The two give
// the border value, but with different rounding in the vertical pass, so both are reproduced.
Taps linear_taps(int src, int dst, bool clamp_weights) {
  Taps t;
  t.first.resize(dst);
  t.second.resize(dst);
  t.w_first.resize(dst);
  t.w_second.resize(dst);
  const double scale = 1.0 / (static_cast<double>(dst) / src);
  for (int d = 0; d < dst; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (clamp_weights) {
      if (s < 0) f = 0.f, s = 0;
      if (s >= src - 1) f = 0.f, s = src - 1;
    }
    t.w_first[d] = static_cast<int32_t>(std::lrint((1.f - f) * 2048.f));
    t.w_second[d] = static_cast<int32_t>(std::lrint(f * 2048.f));
    t.first[d] = std::min(std::max(s, 0), src - 1);
    t.second[d] = std::min(std::max(s + 1, 0), src - 1);
  }
  return t;
}

template <class T>
at::Tensor to_tensor(const std::vector<T>& v, at::ScalarType type) {
  at::Tensor cpu = at::empty({static_cast<int64_t>(v.size())}, at::TensorOptions().dtype(type));
  std::copy(v.begin(), v.end(), cpu.data_ptr<T>());
  return cpu;
}

// The tap tables of one resize: {source rows to keep (empty: all), x0, x1, ax0, ax1, y0, y1,
// by0, by1}, made on the host.
std::vector<at::Tensor> resize_tables(int in_h, int in_w, int out_h, int out_w) {
  Taps tx = linear_taps(in_w, out_w, true);
  Taps ty = linear_taps(in_h, out_h, false);
  // only the source rows the vertical pass reads go through the horizontal pass
  std::vector<int64_t> row_of(in_h, -1), rows;
  for (int d = 0; d < out_h; ++d)
    for (int64_t r : {ty.first[d], ty.second[d]})
      if (row_of[r] < 0) row_of[r] = 0;
  for (int r = 0; r < in_h; ++r)
    if (row_of[r] == 0) {
      row_of[r] = static_cast<int64_t>(rows.size());
      rows.push_back(r);
    }
  for (int d = 0; d < out_h; ++d) {
    ty.first[d] = row_of[ty.first[d]];
    ty.second[d] = row_of[ty.second[d]];
  }
  if (static_cast<int64_t>(rows.size()) == in_h) rows.clear();
  return {to_tensor(rows, at::kLong), to_tensor(tx.first, at::kLong), to_tensor(tx.second, at::kLong),
          to_tensor(tx.w_first, at::kInt).view({1, out_w, 1}), to_tensor(tx.w_second, at::kInt).view({1, out_w, 1}),
          to_tensor(ty.first, at::kLong), to_tensor(ty.second, at::kLong),
          to_tensor(ty.w_first, at::kInt).view({out_h, 1, 1}), to_tensor(ty.w_second, at::kInt).view({out_h, 1, 1})};
}

}  // namespace

std::vector<int64_t> resize_source_rows(int in_h, int out_h) {
  const Taps ty = linear_taps(in_h, out_h, false);
  std::vector<char> used(static_cast<size_t>(in_h), 0);
  for (int d = 0; d < out_h; ++d) used[size_t(ty.first[d])] = used[size_t(ty.second[d])] = 1;
  std::vector<int64_t> rows;
  for (int r = 0; r < in_h; ++r)
    if (used[size_t(r)]) rows.push_back(r);
  return rows;
}

at::Tensor resize_linear_u8(const at::Tensor& hwc, int out_h, int out_w, int full_h) {
  const int in_h = full_h > 0 ? full_h : static_cast<int>(hwc.size(0)), in_w = static_cast<int>(hwc.size(1));
  // on a GPU the tables are uploaded once per size pair, not per frame
  const std::vector<at::Tensor> t = device_tables(
      [&] {
        return "resize_u8:" + std::to_string(in_h) + "x" + std::to_string(in_w) + "->" +
               std::to_string(out_h) + "x" + std::to_string(out_w);
      },
      hwc.device(), [&] { return resize_tables(in_h, in_w, out_h, out_w); });
  const at::Tensor &rows = t[0], &x0 = t[1], &x1 = t[2], &ax0 = t[3], &ax1 = t[4];
  const at::Tensor &y0 = t[5], &y1 = t[6], &by0 = t[7], &by1 = t[8];

  // hwc holds all rows, or (a converted YUV frame) exactly the rows the vertical pass reads
  const bool preselected = hwc.size(0) != in_h;
  if (preselected && hwc.size(0) != rows.numel())
    fail(MF_ERR_INTERNAL, "resize: " + std::to_string(hwc.size(0)) + " preselected rows, the resize reads " +
                              std::to_string(rows.numel()));
  at::Tensor src = rows.numel() == 0 || preselected ? hwc : hwc.index_select(0, rows);
  // horizontal pass, exact in int32: value * 2048 at most 522240
  at::Tensor horizontal = src.index_select(1, x0).to(at::kInt).mul_(ax0);
  horizontal.add_(src.index_select(1, x1).to(at::kInt).mul_(ax1));

  // vertical pass as OpenCV's SIMD kernel: ((b0*(S0>>4))>>16) + ((b1*(S1>>4))>>16) + 2) >> 2
  at::Tensor top = at::bitwise_right_shift(horizontal.index_select(0, y0), 4).mul_(by0);
  at::Tensor bottom = at::bitwise_right_shift(horizontal.index_select(0, y1), 4).mul_(by1);
  at::Tensor out = at::bitwise_right_shift(top, 16).add_(at::bitwise_right_shift(bottom, 16)).add_(2);
  return at::bitwise_right_shift(out, 2).clamp_(0, 255);
}

void normalise_into(const at::Tensor& hwc, bool bgr, bool model_bgr, const std::array<double, 3>& mean,
                    const std::array<double, 3>& std, at::Tensor dst) {
  // channel c of the network input comes from source channel order[c]
  const bool swap = bgr != model_bgr;
  for (int c = 0; c < 3; ++c) {
    const int src_channel = swap ? 2 - c : c;
    // float32 arithmetic with the constants rounded to float, as OpenCV's Normalize does
    const float shift = static_cast<float>(mean[c]);
    const float inv = static_cast<float>(1.0 / std[c]);
    at::Tensor plane = dst.select(0, c);
    plane.copy_(hwc.select(2, src_channel));
    plane.sub_(shift).mul_(inv);
  }
}

}  // namespace maskformer
