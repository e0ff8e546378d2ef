// SPDX-License-Identifier: Apache-2.0
#include "segments.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "error.hpp"
#include "host_memory.hpp"
#include "semantic.hpp"

namespace maskformer {

namespace {

// Mask probabilities (sigmoid of the upsampled logits) of network rows r0..r1 for the queries in
// `masks_w` (mask logits already resized to the network width): (n, r1 - r0 + 1, net_w).
at::Tensor network_rows(const at::Tensor& masks_w, const LinearTaps& up_y, int64_t net_h, int64_t r0,
                        int64_t r1) {
  const int64_t mh = masks_w.size(1);
  const int64_t m0 = up_y.first[r0], m1 = up_y.second[r1];
  at::Tensor up = resize_rows(masks_w.narrow(1, m0, m1 - m0 + 1),
                              row_taps(up_y, mh, net_h, r0, r1 + 1, m0, masks_w.device()));
  return up.sigmoid_();
}

// Rows per band when one row of `per_row_bytes` may take at most `band_bytes` (>= 1, <= rows).
int64_t band_rows(int64_t rows, int64_t per_row_bytes, int64_t band_bytes) {
  return std::max<int64_t>(1, std::min<int64_t>(rows, band_bytes / std::max<int64_t>(1, per_row_bytes)));
}

// The iterative rule: logits in which every dropped query predicts "no object" with certainty
// (class logits -inf, no-object logit 0), so that the probabilistic einsum over all queries is
// the einsum over the kept ones (a dropped query adds exact zeros).
at::Tensor iterative_logits(const at::Tensor& logits, const at::Tensor& masks, int64_t net_h,
                            int64_t net_w, int64_t k, double threshold, int64_t band_bytes) {
  const int64_t q = logits.size(0);
  const at::Tensor class_probs = logits.softmax(-1).narrow(1, 0, k);  // Q, K
  const at::Tensor probs_t = class_probs.t().contiguous();           // K, Q
  const at::Tensor query_class = class_probs.argmax(1);              // Q
  const LinearTaps up_y = linear_taps(masks.size(1), net_h);
  const at::Tensor masks_w = resize_width(masks.contiguous(), net_w);
  const auto long_opts = at::TensorOptions().device(logits.device()).dtype(at::kLong);
  at::Tensor inside = at::zeros({q}, long_opts), total = at::zeros({q}, long_opts);
  const int64_t band = band_rows(net_h, (k + 3 * q) * net_w * int64_t(sizeof(float)), band_bytes);
  for (int64_t r0 = 0; r0 < net_h; r0 += band) {
    const int64_t r1 = std::min<int64_t>(net_h, r0 + band) - 1;
    const at::Tensor flat = network_rows(masks_w, up_y, net_h, r0, r1).view({q, -1});
    const at::Tensor labels = probs_t.mm(flat).argmax(0);  // first class on ties, as torch.argmax
    const at::Tensor binary = flat.ge(0.5);
    inside.add_(binary.logical_and(labels.unsqueeze(0).eq(query_class.unsqueeze(1))).sum(1));
    total.add_(binary.sum(1));
  }
  const at::Tensor in_cpu = inside.cpu(), total_cpu = total.cpu();
  const int64_t* in_p = in_cpu.data_ptr<int64_t>();
  const int64_t* total_p = total_cpu.data_ptr<int64_t>();
  at::Tensor out = logits.clone();
  for (int64_t i = 0; i < q; ++i) {
    // an empty binary mask is kept: the official code compares 0/0 (NaN) with the threshold
    if (total_p[i] > 0 && double(in_p[i]) / double(total_p[i]) < threshold) {
      out[i].narrow(0, 0, k).fill_(-std::numeric_limits<float>::infinity());
      out[i][k].fill_(0.f);
    }
  }
  return out;
}

struct Found {
  mf_segment_info info;
  double sum;  // of score x mask probability over the segment's pixels
};

void make_segments(const at::Tensor& logits, const at::Tensor& masks, int64_t net_h, int64_t net_w,
                   int64_t out_h, int64_t out_w, int64_t k, const OutputView& extra,
                   const SegmentOptions& rules, int64_t band_bytes) {
  const at::Device device = logits.device();
  const at::Tensor probs = logits.softmax(-1);  // Q, K+1
  const auto best = probs.max(-1);
  const at::Tensor& scores = std::get<0>(best);
  const at::Tensor& classes = std::get<1>(best);
  const at::Tensor kept = classes.ne(k).logical_and(scores.gt(rules.object_threshold)).nonzero().view({-1});
  const at::Tensor kept_cpu = kept.cpu();
  const int64_t n = kept_cpu.numel();
  const int64_t pixels = out_h * out_w;
  if (n == 0) {
    if (extra.segment_ids != nullptr) std::fill(extra.segment_ids, extra.segment_ids + pixels, 0);
    *extra.count = 0;
    return;
  }
  const at::Tensor s = scores.index_select(0, kept).view({n, 1, 1});
  const at::Tensor kept_classes = classes.index_select(0, kept).cpu();
  const LinearTaps up_y = linear_taps(masks.size(1), net_h);
  const LinearTaps down_y = linear_taps(net_h, out_h);
  const bool resized = net_h != out_h || net_w != out_w;
  const at::Tensor masks_w = resize_width(masks.index_select(0, kept).contiguous(), net_w);

  const auto long_opts = at::TensorOptions().device(device).dtype(at::kLong);
  at::Tensor owner_map = at::empty({out_h, out_w}, at::TensorOptions().device(device).dtype(at::kInt));
  at::Tensor area = at::zeros({n}, long_opts), original = at::zeros({n}, long_opts);
  at::Tensor sum = at::zeros({n}, at::TensorOptions().device(device).dtype(at::kDouble));
  at::Tensor x0 = at::full({n}, std::numeric_limits<int64_t>::max(), long_opts), x1 = at::full({n}, -1, long_opts);
  at::Tensor y0s = x0.clone(), y1s = x1.clone();
  const at::Tensor columns = at::arange(out_w, long_opts);

  // a band holds n mask rows at network and frame width, and their products
  const int64_t band = band_rows(out_h, 4 * n * (net_w + out_w) * int64_t(sizeof(float)), band_bytes);
  for (int64_t y0 = 0; y0 < out_h; y0 += band) {
    const int64_t y1 = std::min<int64_t>(out_h, y0 + band);
    const int64_t r0 = resized ? down_y.first[y0] : y0;
    const int64_t r1 = resized ? down_y.second[y1 - 1] : y1 - 1;
    at::Tensor p = network_rows(masks_w, up_y, net_h, r0, r1);  // n, rows, net_w
    if (resized)
      p = resize_rows(resize_width(p, out_w).contiguous(), row_taps(down_y, net_h, out_h, y0, y1, r0, device));
    const at::Tensor weighted = p.mul(s);                // n, band, out_w
    const at::Tensor owner = weighted.argmax(0);         // band, out_w (first query on ties)
    const at::Tensor flat = owner.reshape({-1});
    area.add_(at::bincount(flat, {}, n));
    original.add_(p.ge(0.5).sum({1, 2}));
    sum.index_add_(0, flat, weighted.gather(0, owner.unsqueeze(0)).reshape({-1}).to(at::kDouble));
    const at::Tensor xs = columns.unsqueeze(0).expand({y1 - y0, out_w}).reshape({-1});
    const at::Tensor ys = at::arange(y0, y1, long_opts).unsqueeze(1).expand({y1 - y0, out_w}).reshape({-1});
    x0.scatter_reduce_(0, flat, xs, "amin");
    x1.scatter_reduce_(0, flat, xs, "amax");
    y0s.scatter_reduce_(0, flat, ys, "amin");
    y1s.scatter_reduce_(0, flat, ys, "amax");
    owner_map.narrow(0, y0, y1 - y0).copy_(owner);
  }

  // which queries survive, and their ids: a handful of numbers, decided on the host
  const at::Tensor stats = at::stack({area, original, x0, x1, y0s, y1s}).cpu();
  const at::Tensor sums = sum.cpu();
  const int64_t* st = stats.data_ptr<int64_t>();
  const double* sp = sums.data_ptr<double>();
  const int64_t* queries = kept_cpu.data_ptr<int64_t>();
  const int64_t* cls = kept_classes.data_ptr<int64_t>();
  std::vector<int32_t> lut(static_cast<size_t>(n), 0);
  std::vector<Found> found;
  std::map<int64_t, size_t> by_class;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = st[i], o = st[n + i];
    if (a == 0 || o == 0 || double(a) / double(o) < rules.overlap_threshold) continue;
    size_t at_index = found.size();
    const auto same = by_class.find(cls[i]);
    if (rules.merge_same_class && same != by_class.end()) {
      at_index = same->second;
    } else {
      Found f{};
      f.info.id = static_cast<int32_t>(found.size() + 1);
      f.info.class_index = static_cast<int32_t>(cls[i]);
      f.info.query = static_cast<int32_t>(queries[i]);
      f.info.x0 = f.info.y0 = std::numeric_limits<int32_t>::max();
      f.info.x1 = f.info.y1 = 0;
      found.push_back(f);
      by_class.emplace(cls[i], at_index);
    }
    Found& f = found[at_index];
    f.info.area += a;
    f.sum += sp[i];
    f.info.x0 = std::min<int32_t>(f.info.x0, static_cast<int32_t>(st[2 * n + i]));
    f.info.x1 = std::max<int32_t>(f.info.x1, static_cast<int32_t>(st[3 * n + i] + 1));
    f.info.y0 = std::min<int32_t>(f.info.y0, static_cast<int32_t>(st[4 * n + i]));
    f.info.y1 = std::max<int32_t>(f.info.y1, static_cast<int32_t>(st[5 * n + i] + 1));
    lut[static_cast<size_t>(i)] = f.info.id;
  }
  if (extra.segment_ids != nullptr) {
    const at::Tensor table =
        at::from_blob(lut.data(), {n}, at::TensorOptions().dtype(at::kInt)).to(device);
    at::Tensor ids = table.index_select(0, owner_map.reshape({-1}).to(at::kLong)).view({out_h, out_w});
    at::Tensor dst = at::from_blob(extra.segment_ids, {out_h, out_w}, at::TensorOptions().dtype(at::kInt));
    // synchronous: `table` lives in `lut`, which ends with this call
    dst.copy_(ids);
  }
  const size_t writable = std::min<size_t>(found.size(), static_cast<size_t>(std::max(0, extra.capacity)));
  for (size_t i = 0; i < writable; ++i) {
    Found& f = found[i];
    f.info.score = static_cast<float>(f.sum / double(f.info.area));
    // the caller's entries are its struct_size apart; fields beyond it are left out
    f.info.struct_size = extra.segment_size;
    std::memcpy(static_cast<char*>(extra.segments) + i * extra.segment_size, &f.info,
                std::min<size_t>(sizeof(f.info), extra.segment_size));
  }
  *extra.count = static_cast<int32_t>(found.size());
}

}  // namespace

void write_outputs(const at::Tensor& logits, const at::Tensor& masks, int net_h, int net_w, int out_h,
                   int out_w, int num_classes, const OutputView& out, const SegmentOptions& options,
                   int64_t band_bytes) {
  const at::Tensor semantic_logits =
      options.iterative
          ? iterative_logits(logits, masks, net_h, net_w, num_classes, options.iterative_overlap, band_bytes)
          : logits;
  ConfidenceView conf;
  conf.data = out.confidence;
  conf.size = out.confidence_size;
  conf.u8 = out.confidence_u8;
  semantic_outputs(semantic_logits, masks, net_h, net_w, out_h, out_w, num_classes, out, band_bytes,
                   out.confidence != nullptr ? &conf : nullptr);
  // segments come from every query, whatever the semantic rule (as in MaskFormer)
  if (out.wants_segments())
    make_segments(logits, masks, net_h, net_w, out_h, out_w, num_classes, out, options, band_bytes);
}

}  // namespace maskformer
