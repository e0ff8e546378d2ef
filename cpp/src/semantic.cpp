// SPDX-License-Identifier: Apache-2.0
#include "semantic.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "device_tables.hpp"
#include "error.hpp"
#include "fused_kernels.hpp"
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

RowTaps row_taps(const LinearTaps& t, int64_t in, int64_t out, int64_t begin, int64_t end,
                 int64_t base, const at::Device& device) {
  const int64_t n = end - begin;
  // on a GPU uploaded once per (sizes, band), not per frame
  const auto key = [&] {
    return "rows:" + std::to_string(in) + "->" + std::to_string(out) + ":" + std::to_string(begin) + "-" +
           std::to_string(end) + "@" + std::to_string(base);
  };
  const std::vector<at::Tensor> tables = device_tables(key, device, [&] {
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
    return std::vector<at::Tensor>{idx, w};
  });
  const at::Tensor &idx = tables[0], &w = tables[1];
  return {idx[0], idx[1], w[0].view({1, n, 1}), w[1].view({1, n, 1})};
}

at::Tensor resize_width(const at::Tensor& x, int64_t out_w) {
  const int64_t c = x.size(0), r = x.size(1), w = x.size(2);
  if (w == out_w) return x;
  const int64_t size[1] = {out_w};
  return at::upsample_linear1d(x.reshape({1, c * r, w}), at::IntArrayRef(size, 1), false,
                               c10::optional<double>())
      .view({c, r, out_w});
}

at::Tensor resize_rows(const at::Tensor& x, const RowTaps& t) {
  at::Tensor out = x.index_select(1, t.first).mul_(t.w_first);
  return out.addcmul_(x.index_select(1, t.second), t.w_second);
}

namespace {

// The confidence value of a winning score as the caller's type asks (see mf_confidence_type).
inline void put_confidence(const ConfidenceView& c, int64_t i, float best) {
  if (c.u8) {
    double v = best < 0.f ? 0.0 : (best > 1.f ? 1.0 : double(best));
    static_cast<uint8_t*>(c.data)[i] = static_cast<uint8_t>(std::floor(v * 255.0 + 0.5));
  } else {
    static_cast<float*>(c.data)[i] = best;
  }
}

// Device path: the confidence of a band of winning scores (rows, W) into the caller's memory.
void copy_confidence(const ConfidenceView& c, const at::Tensor& best, int64_t y0, int64_t out_w,
                     bool pinned) {
  const int64_t rows = best.size(0);
  if (c.u8) {
    at::Tensor dst = at::from_blob(static_cast<uint8_t*>(c.data) + y0 * out_w, {rows, out_w},
                                   at::TensorOptions().dtype(at::kByte));
    dst.copy_(best.clamp(0, 1).to(at::kDouble).mul_(255.0).add_(0.5).floor_().to(at::kByte), pinned);
  } else {
    at::Tensor dst = at::from_blob(static_cast<float*>(c.data) + y0 * out_w, {rows, out_w},
                                   at::TensorOptions().dtype(at::kFloat));
    dst.copy_(best, pinned);
  }
}

// CPU: labels of output rows from width-resized network rows `cols` (K, R, W), mixing rows as
// resize_rows does and taking the argmax over classes on the fly (first class wins ties, as
// torch.argmax), without materialising the (K, rows, W) scores. Writes straight into `labels`.
template <class Label>
void fused_rows_argmax(const at::Tensor& cols, const LinearTaps& taps, int64_t begin, int64_t end,
                       int64_t base, Label* labels, const ConfidenceView* conf) {
  const int64_t k = cols.size(0), r = cols.size(1), w = cols.size(2);
  const float* data = cols.data_ptr<float>();
  at::parallel_for(begin, end, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> best(static_cast<size_t>(w));
    for (int64_t y = b0; y < b1; ++y) {
      const float* top = data + (taps.first[y] - base) * w;
      const float* bottom = data + (taps.second[y] - base) * w;
      const float wt = taps.w_first[y], wb = taps.w_second[y];
      Label* out = labels + (y - begin) * w;
      for (int64_t x = 0; x < w; ++x) {
        const float t = top[x] * wt;
        best[x] = t + bottom[x] * wb;
        out[x] = 0;
      }
      for (int64_t c = 1; c < k; ++c) {
        top += r * w;
        bottom += r * w;
        for (int64_t x = 0; x < w; ++x) {
          const float t = top[x] * wt;
          const float v = t + bottom[x] * wb;
          if (v > best[x]) {
            best[x] = v;
            out[x] = static_cast<Label>(c);
          }
        }
      }
      if (conf != nullptr)
        for (int64_t x = 0; x < w; ++x) put_confidence(*conf, y * w + x, best[x]);
    }
  });
}

// CPU argmax over classes of scores (K, rows, W) into labels, first class on ties.
template <class Label>
void argmax_classes(const at::Tensor& scores, Label* labels, const ConfidenceView* conf,
                    int64_t conf_offset) {
  const int64_t k = scores.size(0), n = scores.size(1) * scores.size(2);
  const float* data = scores.data_ptr<float>();
  at::parallel_for(0, n, 4096, [&](int64_t n0, int64_t n1) {
    std::vector<float> best(data + n0, data + n1);
    std::fill(labels + n0, labels + n1, Label(0));
    for (int64_t c = 1; c < k; ++c) {
      const float* s = data + c * n;
      for (int64_t i = n0; i < n1; ++i) {
        if (s[i] > best[i - n0]) {
          best[i - n0] = s[i];
          labels[i] = static_cast<Label>(c);
        }
      }
    }
    if (conf != nullptr)
      for (int64_t i = n0; i < n1; ++i) put_confidence(*conf, conf_offset + i, best[i - n0]);
  });
}

kernels::Taps1d taps_view(const LinearTaps& t) {
  return {t.first.data(), t.second.data(), t.w_first.data(), t.w_second.data()};
}

// MASKFORMER_FUSED_SEMANTIC, read at each call so that one process can compare paths: unset or
// "1", the best fused kernels this CPU runs; "0", the tensor path (null); "avx512", "avx2" or
// "generic", that kernel (cpu_paths_test forces each code path this way); a kernel this CPU does
// not run, or any other value, is an error rather than a silent fallback.
kernels::RowsFn fused_rows() {
  static const kernels::RowsFn best = kernels::best_rows();
  const char* env = std::getenv("MASKFORMER_FUSED_SEMANTIC");
  if (env == nullptr || env[0] == '\0' || std::strcmp(env, "1") == 0) return best;
  if (std::strcmp(env, "0") == 0) return nullptr;
  if (const kernels::RowsFn named = kernels::rows_named(env)) return named;
  const char* best_name = nullptr;
  kernels::best_rows(&best_name);
  fail(MF_ERR_INVALID_ARGUMENT, std::string("MASKFORMER_FUSED_SEMANTIC=") + env +
                                    ": expected 0, 1, generic, avx2 or avx512 (this CPU runs up to " + best_name +
                                    ")");
}

// CPU labels (and confidence) of one image with the fused kernels (fused_kernels.hpp): rows of the
// frame in one contiguous range per thread, each with its own scratch from the host cache.
void fused_outputs(kernels::RowsFn rows, const at::Tensor& probs_kq, const at::Tensor& masks_w,
                   const LinearTaps& up_y, const LinearTaps& down_y, const LinearTaps& down_x, int net_h,
                   int net_w, int out_h, int out_w, const OutputView& out, const ConfidenceView* conf) {
  const int64_t k = probs_kq.size(0), q = probs_kq.size(1);
  kernels::SemanticProblem p;
  p.k = k;
  p.k_padded = (k + kernels::kClassBlock - 1) / kernels::kClassBlock * kernels::kClassBlock;
  p.q = q;
  const at::Tensor probs = at::zeros({p.k_padded, q}, probs_kq.options());
  probs.narrow(0, 0, k).copy_(probs_kq);
  p.probs = probs.data_ptr<float>();
  p.k_vector = (k + 15) / 16 * 16;
  const at::Tensor probs_t = at::zeros({q, p.k_vector}, probs_kq.options());
  probs_t.narrow(1, 0, k).copy_(probs_kq.t());
  p.probs_t = probs_t.data_ptr<float>();
  // MASKFORMER_SEMANTIC_PRUNE=0 computes every class everywhere (the same labels and scores,
  // slower: for comparisons, read at each call)
  const char* prune = std::getenv("MASKFORMER_SEMANTIC_PRUNE");
  p.prune = prune == nullptr || std::strcmp(prune, "0") != 0;
  p.stats = &kernels::prune_stats();
  p.masks_w = masks_w.data_ptr<float>();
  p.mh = masks_w.size(1);
  p.net_h = net_h;
  p.net_w = net_w;
  p.out_h = out_h;
  p.out_w = out_w;
  p.up_y = taps_view(up_y);
  p.down_y = taps_view(down_y);
  p.down_x = taps_view(down_x);
  p.resized = net_h != out_h || net_w != out_w;
  p.labels = out.labels;
  p.labels_u8 = out.label_type == MF_LABEL_U8;
  if (conf != nullptr) {
    p.confidence = conf->data;
    p.confidence_u8 = conf->u8;
  }
  // a few rows per range at least: each range computes up to two network rows again at its start
  const int threads = std::max(1, at::get_num_threads());
  const int64_t grain = std::max<int64_t>(8, out_h / (4 * threads));
  // each range's scratch, allocated here on the calling thread (the host cache accounts a call's
  // blocks on the thread that makes it): parallel_for gives thread t (< threads) at most one range,
  // and only threads below ceil(out_h / grain) get one
  const int64_t slots = std::min<int64_t>(threads, (out_h + grain - 1) / grain);
  const int64_t scratch = (kernels::scratch_floats(p) + 15) / 16 * 16;  // slots stay 64-byte aligned
  const at::Tensor buffer = at::empty({scratch * slots + 16}, probs_kq.options());
  float* const base = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buffer.data_ptr<float>()) + 63) / 64 * 64);
  at::parallel_for(0, out_h, grain, [&](int64_t y0, int64_t y1) {
    const int t = at::get_thread_num();
    if (t < 0 || t >= slots) throw std::logic_error("fused_outputs: thread number out of range");
    rows(p, y0, y1, base + t * scratch);
  });
}

}  // namespace

void semantic_outputs(const at::Tensor& logits, const at::Tensor& masks, int net_h, int net_w,
                      int out_h, int out_w, int num_classes, const OutputView& out,
                      int64_t band_bytes, const ConfidenceView* conf) {
  const at::Device device = logits.device();
  const bool on_cpu = device.is_cpu();
  const int64_t q = logits.size(0), k = num_classes;
  const int64_t mh = masks.size(1);
  const bool resized = net_h != out_h || net_w != out_w;

  at::Tensor probs = logits.softmax(-1).narrow(1, 0, k).t().contiguous();  // K, Q
  const LinearTaps up_y = linear_taps(mh, net_h);
  const LinearTaps down_y = linear_taps(net_h, out_h);
  // the mask logits resized to the network width once; rows are resized per band
  const at::Tensor masks_w = resize_width(masks.contiguous(), net_w).contiguous();  // Q, h', net_w

  if (on_cpu && out.scores == nullptr) {
    if (const kernels::RowsFn rows = fused_rows()) {
      fused_outputs(rows, probs, masks_w, up_y, down_y, linear_taps(net_w, out_w), net_h, net_w, out_h, out_w,
                    out, conf);
      return;
    }
  }

  const bool u8 = out.label_type == MF_LABEL_U8;
  const auto label_dtype = u8 ? at::kByte : at::kInt;
  at::Tensor caller_labels =
      at::from_blob(out.labels, {out_h, out_w}, at::TensorOptions().dtype(label_dtype));
  at::Tensor caller_scores;
  if (out.scores != nullptr)
    caller_scores = at::from_blob(out.scores, {k, out_h, out_w}, at::TensorOptions().dtype(at::kFloat));
  const bool pinned_labels = !on_cpu && host_buffer_is_pinned(out.labels, out.labels_size);
  const bool pinned_scores =
      !on_cpu && out.scores != nullptr && host_buffer_is_pinned(out.scores, out.scores_size);
  const bool pinned_conf = !on_cpu && conf != nullptr && host_buffer_is_pinned(conf->data, conf->size);
  // device path: labels (and the confidence) of a band of class scores (K, rows, out_w)
  const auto device_labels = [&](const at::Tensor& band_scores, int64_t y0, int64_t y1) {
    if (conf == nullptr) {
      caller_labels.narrow(0, y0, y1 - y0).copy_(band_scores.argmax(0).to(label_dtype), pinned_labels);
      return;
    }
    auto best = band_scores.max(0);
    caller_labels.narrow(0, y0, y1 - y0).copy_(std::get<1>(best).to(label_dtype), pinned_labels);
    copy_confidence(*conf, std::get<0>(best), y0, out_w, pinned_conf);
  };

  // rows per band: the band's class scores at output and network width within budget
  const int64_t row_bytes = k * (int64_t(out_w) + net_w) * int64_t(sizeof(float));
  const int64_t band = std::max<int64_t>(1, std::min<int64_t>(out_h, band_bytes / row_bytes));

  for (int64_t y0 = 0; y0 < out_h; y0 += band) {
    const int64_t y1 = std::min<int64_t>(out_h, y0 + band);
    // network rows the band reads, then the mask rows those read
    const int64_t r0 = resized ? down_y.first[y0] : y0;
    const int64_t r1 = resized ? down_y.second[y1 - 1] : y1 - 1;
    const int64_t rows = r1 - r0 + 1;
    const int64_t m0 = up_y.first[r0], m1 = up_y.second[r1];
    // mask logits at network resolution for rows r0..r1, sigmoid, weighted by class probabilities
    at::Tensor up = resize_rows(masks_w.narrow(1, m0, m1 - m0 + 1), row_taps(up_y, mh, net_h, r0, r1 + 1, m0, device));
    up.sigmoid_();
    at::Tensor seg = probs.mm(up.view({q, rows * net_w})).view({k, rows, net_w});
    if (!resized) {
      if (on_cpu) {
        if (u8) argmax_classes(seg, caller_labels.data_ptr<uint8_t>() + y0 * out_w, conf, y0 * out_w);
        else argmax_classes(seg, caller_labels.data_ptr<int32_t>() + y0 * out_w, conf, y0 * out_w);
      } else {
        device_labels(seg, y0, y1);
      }
      if (caller_scores.defined()) caller_scores.narrow(1, y0, y1 - y0).copy_(seg, pinned_scores);
      continue;
    }
    at::Tensor cols = resize_width(seg, out_w).contiguous();  // K, rows, out_w
    if (on_cpu && !caller_scores.defined()) {
      if (u8) fused_rows_argmax(cols, down_y, y0, y1, r0, caller_labels.data_ptr<uint8_t>() + y0 * out_w, conf);
      else fused_rows_argmax(cols, down_y, y0, y1, r0, caller_labels.data_ptr<int32_t>() + y0 * out_w, conf);
      continue;
    }
    at::Tensor scores = resize_rows(cols, row_taps(down_y, net_h, out_h, y0, y1, r0, device));  // K, band, out_w
    if (on_cpu) {
      if (u8) argmax_classes(scores, caller_labels.data_ptr<uint8_t>() + y0 * out_w, conf, y0 * out_w);
      else argmax_classes(scores, caller_labels.data_ptr<int32_t>() + y0 * out_w, conf, y0 * out_w);
    } else {
      device_labels(scores, y0, y1);
    }
    if (caller_scores.defined()) caller_scores.narrow(1, y0, y1 - y0).copy_(scores, pinned_scores);
  }
}

}  // namespace maskformer
