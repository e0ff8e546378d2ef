// SPDX-License-Identifier: Apache-2.0
// YUV 4:2:0 to RGB with ffmpeg's arithmetic (see yuv.hpp). The constants and formulas are
// libswscale's (yuv2rgb.c, utils.c initFilter, output.c), re-derived here: the 16.16 colour
// coefficients of each matrix, the 13-bit coefficients of its SIMD and "full chroma" routes, the
// lookup tables of its general route, and its bicubic filter with the 12-bit (vertical) and
// 14-bit (horizontal) coefficients that its normalisation gives.
#include "yuv.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

#include "device_tables.hpp"
#include "maskformer.h"

namespace maskformer {
namespace {

// ---- colour coefficients ---------------------------------------------------------------------

// (crv, cbu, cgu, cgv) in 1/65536, for limited range: swscale's ff_yuv2rgb_coeffs rows
constexpr int64_t kMatrix[3][4] = {
    {104597, 132201, 25675, 53279},  // BT.601 (bt470bg, smpte170m, unspecified)
    {117489, 138438, 13975, 34925},  // BT.709
    {110013, 140363, 12277, 42626},  // BT.2020 non-constant luminance
};

// swscale's roundToInt16: round a 32.32 value to 16 bits, saturated
int32_t round_to_int16(int64_t f) {
  const int64_t r = (f + (int64_t(1) << 15)) >> 16;
  if (r < -0x7FFF) return -0x8000;
  return static_cast<int32_t>(std::min<int64_t>(r, 0x7FFF));
}

struct Coefficients {
  // 16.16, range applied (ff_yuv2rgb_c_init_tables with contrast = saturation = 1, brightness 0)
  int64_t cy, oy, crv, cbu, cgu, cgv;
  // the SIMD route's pmulhw operands and the full-chroma route's multipliers (x << 13, rounded)
  int32_t y_coeff, v2r, u2b, u2g, v2g;
  int32_t y_offset3;  // oy << 3 (SIMD)
  int32_t y_offset9;  // oy << 9 (full chroma)
  bool full;
};

Coefficients coefficients(int matrix, bool full) {
  const int64_t* t = kMatrix[matrix];
  Coefficients c{};
  c.full = full;
  c.crv = t[0];
  c.cbu = t[1];
  c.cgu = -t[2];
  c.cgv = -t[3];
  c.cy = 1 << 16;
  c.oy = 0;
  if (!full) {
    c.cy = (c.cy * 255) / 219;
    c.oy = 16 << 16;
  } else {  // C division: toward zero, also for the negative green terms
    c.crv = (c.crv * 224) / 255;
    c.cbu = (c.cbu * 224) / 255;
    c.cgu = (c.cgu * 224) / 255;
    c.cgv = (c.cgv * 224) / 255;
  }
  c.y_coeff = round_to_int16(c.cy * (1 << 13));
  c.v2r = round_to_int16(c.crv * (1 << 13));
  c.u2b = round_to_int16(c.cbu * (1 << 13));
  c.u2g = round_to_int16(c.cgu * (1 << 13));
  c.v2g = round_to_int16(c.cgv * (1 << 13));
  c.y_offset3 = round_to_int16(c.oy * (1 << 3));
  c.y_offset9 = round_to_int16(c.oy * (1 << 9));
  return c;
}

uint8_t clip_u8(int32_t v) { return static_cast<uint8_t>(std::min(std::max(v, 0), 255)); }

// The general route's tables: RGB = y_table[Y + offset(U, V)] (swscale's table_rV/gU/gV/bU).
struct Tables {
  std::array<uint8_t, 2048> y;
  std::array<int32_t, 256> r_v, g_u, g_v, b_u;  // index offsets per chroma value 0..255
};

Tables tables(const Coefficients& c) {
  Tables t{};
  const int64_t cy = std::max<int64_t>(c.cy, 1);
  // the chroma coefficients in units of luma table steps
  const int64_t crv = (c.crv * (1 << 16) + 0x8000) / cy, cbu = (c.cbu * (1 << 16) + 0x8000) / cy;
  const int64_t cgu = (c.cgu * (1 << 16) + 0x8000) / cy, cgv = (c.cgv * (1 << 16) + 0x8000) / cy;
  const int64_t yoffs = (c.full ? 384 : 326) + 512;
  int64_t yb = -(int64_t(384) << 16) - 512 * c.cy - c.oy;
  for (size_t i = 0; i < t.y.size(); ++i, yb += c.cy)
    t.y[i] = clip_u8(static_cast<int32_t>((yb + 0x8000) >> 16));
  for (int v = 0; v < 256; ++v) {
    t.r_v[v] = static_cast<int32_t>(yoffs - (crv >> 9) + ((v * crv) >> 16));
    t.b_u[v] = static_cast<int32_t>(yoffs - (cbu >> 9) + ((v * cbu) >> 16));
    t.g_u[v] = static_cast<int32_t>(yoffs - (cgu >> 9) + ((v * cgu) >> 16));
    t.g_v[v] = static_cast<int32_t>(-(cgv >> 9) + ((v * cgv) >> 16));
  }
  return t;
}

uint8_t table_at(const Tables& t, int64_t index) {
  return t.y[static_cast<size_t>(std::min<int64_t>(std::max<int64_t>(index, 0), 2047))];
}

// ---- the bicubic chroma filter of swscale's general route --------------------------------------

// Output sample i reads source samples pos[i] .. pos[i] + size - 1 with weights coef[i * size + j]
// (summing to `one`).
struct Filter {
  int size = 1;
  std::vector<int32_t> pos;
  std::vector<int32_t> coef;
};

int64_t rounded_div(int64_t a, int64_t b) { return (a >= 0 ? a + (b >> 1) : a - (b >> 1)) / b; }

// initFilter for SWS_BICUBIC (B = 0, C = 0.6), chroma positions 128 on both sides (centres), and
// the filter alignment swscale uses on x86 (`align`).
Filter bicubic_filter(int src, int dst, int one, int align) {
  const int64_t fone = int64_t(1) << 54;  // upscaling only: srcW / dstW = 0
  const int64_t inc = ((int64_t(src) << 16) + (dst >> 1)) / dst;
  constexpr int64_t pos128 = 128;
  int size = 1;
  std::vector<int64_t> f;
  std::vector<int32_t> pos(static_cast<size_t>(dst));
  if (std::llabs(inc - 0x10000) < 10) {  // unscaled
    f.assign(static_cast<size_t>(dst), fone);
    for (int i = 0; i < dst; ++i) pos[size_t(i)] = i;
  } else {
    size = inc <= (1 << 16) ? 1 + 4 : 1 + static_cast<int>((4 * int64_t(src) + dst - 1) / dst);
    size = std::max(std::min(size, src - 2), 1);
    f.assign(static_cast<size_t>(dst) * size, 0);
    int64_t x = ((pos128 * inc) >> 7) - ((pos128 * 0x10000) >> 7);
    const int64_t B = 0, C = static_cast<int64_t>(0.6 * (1 << 24));
    for (int i = 0; i < dst; ++i) {
      int64_t xx = (x - (size - 2) * (int64_t(1) << 16)) / (1 << 17);  // toward zero, as in C
      pos[size_t(i)] = static_cast<int32_t>(xx);
      for (int j = 0; j < size; ++j, ++xx) {
        int64_t d = std::llabs(xx * (1 << 17) - x) << 13;
        if (inc > 1 << 16) d = d * dst / src;
        int64_t coeff = 0;
        if (d < int64_t(1) << 31) {
          const int64_t dd = (d * d) >> 30, ddd = (dd * d) >> 30;
          if (d < int64_t(1) << 30)
            coeff = (12 * (int64_t(1) << 24) - 9 * B - 6 * C) * ddd + (-18 * (int64_t(1) << 24) + 12 * B + 6 * C) * dd +
                    (6 * (int64_t(1) << 24) - 2 * B) * (int64_t(1) << 30);
          else
            coeff = (-B - 6 * C) * ddd + (6 * B + 30 * C) * dd + (-12 * B - 48 * C) * d + (8 * B + 24 * C) * (int64_t(1) << 30);
        }
        f[size_t(i) * size + j] = coeff;  // / ((1 << 54) / fone) = / 1
      }
      x += 2 * inc;
    }
  }
  // drop near-zero taps: on the left by shifting, on the right by shortening
  const double cutoff = 0.002 * static_cast<double>(fone);
  int min_size = 0;
  for (int i = dst - 1; i >= 0; --i) {
    int64_t* row = &f[size_t(i) * size];
    int keep = size;
    int64_t cut = 0;
    for (int j = 0; j < size; ++j) {
      cut += std::llabs(row[0]);
      if (static_cast<double>(cut) > cutoff) break;
      if (i < dst - 1 && pos[size_t(i)] >= pos[size_t(i) + 1]) break;
      for (int k = 1; k < size; ++k) row[k - 1] = row[k];
      row[size - 1] = 0;
      ++pos[size_t(i)];
    }
    cut = 0;
    for (int j = size - 1; j > 0; --j) {
      cut += std::llabs(row[j]);
      if (static_cast<double>(cut) > cutoff) break;
      --keep;
    }
    min_size = std::max(min_size, keep);
  }
  if (min_size == 1 && align == 2) align = 1;  // swscale's unscaled vertical special case
  const int out_size = (min_size + (align - 1)) & ~(align - 1);
  std::vector<int64_t> g(static_cast<size_t>(dst) * out_size, 0);
  for (int i = 0; i < dst; ++i)
    for (int j = 0; j < out_size && j < size; ++j) g[size_t(i) * out_size + j] = f[size_t(i) * size + j];
  // taps before the first or past the last source sample move onto the edge samples
  for (int i = 0; i < dst; ++i) {
    int64_t* row = &g[size_t(i) * out_size];
    int32_t& p = pos[size_t(i)];
    if (p < 0) {
      for (int j = 1; j < out_size; ++j) {
        const int left = std::max(j + p, 0);
        row[left] += row[j];
        row[j] = 0;
      }
      p = 0;
    }
    if (p + out_size > src) {
      const int shift = p + std::min(out_size - src, 0);
      int64_t acc = 0;
      for (int j = out_size - 1; j >= 0; --j)
        if (p + j >= src) {
          acc += row[j];
          row[j] = 0;
        }
      for (int j = out_size - 1; j >= 0; --j) row[j] = j < shift ? 0 : row[j - shift];
      p -= shift;
      row[src - 1 - p] += acc;
    }
  }
  // normalise to `one`, carrying the rounding error along the taps
  Filter out;
  out.size = out_size;
  out.pos = pos;
  out.coef.assign(static_cast<size_t>(dst) * out_size, 0);
  for (int i = 0; i < dst; ++i) {
    const int64_t* row = &g[size_t(i) * out_size];
    int64_t sum = 0;
    for (int j = 0; j < out_size; ++j) sum += row[j];
    sum = (sum + one / 2) / one;
    if (sum == 0) sum = 1;
    int64_t error = 0;
    for (int j = 0; j < out_size; ++j) {
      const int64_t v = row[j] + error;
      const int64_t q = rounded_div(v, sum);
      out.coef[size_t(i) * out_size + j] = static_cast<int32_t>(q);
      error = v - q * sum;
    }
  }
  return out;
}

// The general route's chroma filters for a width x height frame (height odd): vertical from
// ceil(h/2) to h rows, and (odd widths) horizontal from ceil(w/2) to w.
struct ChromaFilters {
  Filter vertical;
  bool full = false;  // odd width: full-chroma output
  Filter horizontal;
};

ChromaFilters chroma_filters(int width, int height) {
  ChromaFilters c;
  c.vertical = bicubic_filter((height + 1) / 2, height, 1 << 12, 2);
  // a 2-tap filter whose taps lie in [0, 4096] runs swscale's one-line output, which takes the
  // first line alone when the second tap is < 2048 and the mean of both otherwise: the same
  // arithmetic as the filters [4096, 0] and [2048, 2048]
  if (c.vertical.size == 2)
    for (size_t i = 0; i < c.vertical.pos.size(); ++i) {
      int32_t* t = &c.vertical.coef[2 * i];
      if (t[0] + t[1] == 4096 && t[1] >= 0 && t[1] <= 4096) {
        t[0] = t[1] < 2048 ? 4096 : 2048;
        t[1] = 4096 - t[0];
      }
    }
  c.full = (width & 1) != 0;
  if (c.full) c.horizontal = bicubic_filter((width + 1) / 2, width, 1 << 14, 4);
  return c;
}

// ---- the CPU kernels ---------------------------------------------------------------------------

struct Planes {
  const uint8_t* y;
  int64_t y_stride;
  const uint8_t* u;
  const uint8_t* v;
  int64_t u_stride, v_stride;
  int step;
};

// pmulhw: the high half of a 16 x 16-bit product
inline int16_t mulhi(int16_t a, int16_t b) { return static_cast<int16_t>((int32_t(a) * int32_t(b)) >> 16); }

inline uint8_t saturate_u8(int16_t v) { return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v); }

// Even heights: swscale's SIMD converter (yuv2rgb_template.asm): 16-bit fixed point, chroma per
// 2x2 block. Written as loops over 16-bit lanes that the compiler vectorises: the chroma terms of
// each pixel pair, the luma terms, then the sums. Step is 1 (I420) or 2 (NV12/NV21).
template <int Step>
void fast_row(const Planes& p, const Coefficients& c, int width, int64_t row, int16_t* scratch, uint8_t* out) {
  const uint8_t* y = p.y + row * p.y_stride;
  const uint8_t* u = p.u + (row / 2) * p.u_stride;
  const uint8_t* v = p.v + (row / 2) * p.v_stride;
  const int16_t yc = int16_t(c.y_coeff), yo = int16_t(c.y_offset3), vr = int16_t(c.v2r), ub = int16_t(c.u2b),
                ug = int16_t(c.u2g), vg = int16_t(c.v2g);
  const int pairs = (width + 1) / 2, padded = 2 * pairs;
  int16_t* tr = scratch;
  int16_t* tg = tr + padded;
  int16_t* tb = tg + padded;
  int16_t* luma = tb + padded;
  for (int i = 0; i < pairs; ++i) {
    const int16_t cu = int16_t((u[i * Step] << 3) - 1024), cv = int16_t((v[i * Step] << 3) - 1024);
    const int16_t r = mulhi(cv, vr), g = int16_t(mulhi(cu, ug) + mulhi(cv, vg)), b = mulhi(cu, ub);
    tr[2 * i] = tr[2 * i + 1] = r;
    tg[2 * i] = tg[2 * i + 1] = g;
    tb[2 * i] = tb[2 * i + 1] = b;
  }
  for (int x = 0; x < width; ++x) luma[x] = mulhi(int16_t((y[x] << 3) - yo), yc);
  for (int x = 0; x < width; ++x) {
    out[3 * x] = saturate_u8(int16_t(luma[x] + tr[x]));
    out[3 * x + 1] = saturate_u8(int16_t(luma[x] + tg[x]));
    out[3 * x + 2] = saturate_u8(int16_t(luma[x] + tb[x]));
  }
}

// Odd heights: swscale's general route for one output row. `hu`/`hv`: the chroma rows at 15 bits
// (sample << 7, or horizontally filtered to the full width when c.full), rows of `cw` values.
void general_row(const Planes& p, const Coefficients& c, const Tables& t, const ChromaFilters& f, int width,
                 int64_t row, const int32_t* hu, const int32_t* hv, int64_t cw, uint8_t* out) {
  const uint8_t* y = p.y + row * p.y_stride;
  const Filter& vf = f.vertical;
  const int32_t* taps = &vf.coef[size_t(row) * vf.size];
  const int64_t first = vf.pos[size_t(row)];
  if (!f.full) {
    for (int64_t i = 0; i < cw; ++i) {
      int32_t su = 1 << 18, sv = 1 << 18;
      for (int j = 0; j < vf.size; ++j) {
        su += hu[(first + j) * cw + i] * taps[j];
        sv += hv[(first + j) * cw + i] * taps[j];
      }
      const uint8_t cu = clip_u8(su >> 19), cv = clip_u8(sv >> 19);
      const int32_t r = t.r_v[cv], g = t.g_u[cu] + t.g_v[cv], b = t.b_u[cu];
      for (int64_t x = 2 * i; x < std::min<int64_t>(2 * i + 2, width); ++x) {
        out[3 * x] = table_at(t, r + y[x]);
        out[3 * x + 1] = table_at(t, g + y[x]);
        out[3 * x + 2] = table_at(t, b + y[x]);
      }
    }
    return;
  }
  for (int x = 0; x < width; ++x) {
    int32_t su = (1 << 9) - (128 << 19), sv = (1 << 9) - (128 << 19);
    for (int j = 0; j < vf.size; ++j) {
      su += hu[(first + j) * cw + x] * taps[j];
      sv += hv[(first + j) * cw + x] * taps[j];
    }
    su >>= 10;
    sv >>= 10;
    // unsigned arithmetic, as swscale's yuv2rgb_write_full: a sum past 2^31 wraps
    const uint32_t luma = uint32_t((int32_t(y[x]) * 512 - c.y_offset9) * c.y_coeff + (1 << 21));
    int32_t r = int32_t(luma + uint32_t(sv) * uint32_t(c.v2r));
    int32_t g = int32_t(luma + uint32_t(sv) * uint32_t(c.v2g) + uint32_t(su) * uint32_t(c.u2g));
    int32_t b = int32_t(luma + uint32_t(su) * uint32_t(c.u2b));
    if ((r | g | b) & int32_t(0xC0000000)) {
      constexpr int32_t top = (1 << 30) - 1;
      r = std::min(std::max(r, 0), top);
      g = std::min(std::max(g, 0), top);
      b = std::min(std::max(b, 0), top);
    }
    out[3 * x] = static_cast<uint8_t>(r >> 22);
    out[3 * x + 1] = static_cast<uint8_t>(g >> 22);
    out[3 * x + 2] = static_cast<uint8_t>(b >> 22);
  }
}

// A chroma plane at 15 bits per sample for the general route: sample << 7, or (full chroma) the
// horizontal filter's sum >> 7, capped at 2^15 - 1 (swscale's hScale8To15).
void chroma15(const uint8_t* plane, int64_t stride, int step, int ch, int cw_in, const ChromaFilters& f,
              int32_t* out) {
  const int64_t cw = f.full ? int64_t(f.horizontal.pos.size()) : cw_in;
  at::parallel_for(0, ch, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint8_t* src = plane + r * stride;
      int32_t* dst = out + r * cw;
      if (!f.full) {
        for (int64_t x = 0; x < cw; ++x) dst[x] = int32_t(src[x * step]) << 7;
        continue;
      }
      const Filter& hf = f.horizontal;
      for (int64_t x = 0; x < cw; ++x) {
        const int32_t* taps = &hf.coef[size_t(x) * hf.size];
        const int64_t first = hf.pos[size_t(x)];
        int32_t sum = 0;
        // taps past the last sample have weight 0 but are not read (as the tensor path clamps):
        // a 4-tap filter over a 3-sample row (width 5 or 6) would read past the plane
        for (int j = 0; j < hf.size; ++j) sum += int32_t(src[std::min<int64_t>(first + j, cw_in - 1) * step]) * taps[j];
        dst[x] = std::min(sum >> 7, (1 << 15) - 1);
      }
    }
  });
}

Planes planes_of(const ImageView& image) {
  return Planes{image.data, image.stride, image.u, image.v, image.u_stride, image.v_stride, image.chroma_step};
}

}  // namespace

void yuv_to_rgb_rows(const ImageView& image, const int64_t* rows, int64_t count, uint8_t* out) {
  const Planes p = planes_of(image);
  const Coefficients c = coefficients(image.matrix, image.full_range);
  const int width = image.width;
  const int64_t row_bytes = int64_t(width) * 3;
  auto row_of = [&](int64_t i) { return rows != nullptr ? rows[i] : i; };
  if (image.height % 2 == 0) {
    at::parallel_for(0, count, 16, [&](int64_t begin, int64_t end) {
      // per-row terms: 4 x 16 bits a pixel, on the stack up to 4096 pixels, else from the heap
      constexpr int kStackWidth = 4096;
      int16_t stack[4 * (kStackWidth + 1)];
      std::vector<int16_t> heap;
      int16_t* scratch = stack;
      if (width > kStackWidth) {
        heap.resize(4 * (size_t(width) + 1));
        scratch = heap.data();
      }
      for (int64_t i = begin; i < end; ++i) {
        if (p.step == 1)
          fast_row<1>(p, c, width, row_of(i), scratch, out + i * row_bytes);
        else
          fast_row<2>(p, c, width, row_of(i), scratch, out + i * row_bytes);
      }
    });
    return;
  }
  const ChromaFilters f = chroma_filters(width, image.height);
  const Tables t = tables(c);
  const int ch = image.chroma_height(), cw_in = image.chroma_width();
  const int64_t cw = f.full ? width : cw_in;
  // the chroma planes at 15 bits, from the host cache like every other tensor of a call
  at::Tensor work = at::empty({2, ch, cw}, at::TensorOptions().dtype(at::kInt));
  int32_t* hu = work.data_ptr<int32_t>();
  int32_t* hv = hu + int64_t(ch) * cw;
  chroma15(p.u, p.u_stride, p.step, ch, cw_in, f, hu);
  chroma15(p.v, p.v_stride, p.step, ch, cw_in, f, hv);
  at::parallel_for(0, count, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) general_row(p, c, t, f, width, row_of(i), hu, hv, cw, out + i * row_bytes);
  });
}

// ---- the tensor path ----------------------------------------------------------------------------

namespace {

at::Tensor clamp_u8(const at::Tensor& t) { return t.clamp(0, 255).to(at::kByte); }

// (rows, cols) -> (2 rows, 2 cols)[:h, :w]: each chroma sample over its 2x2 block
at::Tensor blocks(const at::Tensor& t, int64_t h, int64_t w) {
  const int64_t ch = t.size(0), cw = t.size(1);
  return t.view({ch, 1, cw, 1}).expand({ch, 2, cw, 2}).reshape({2 * ch, 2 * cw}).slice(0, 0, h).slice(1, 0, w);
}

// int64 to int32 wrapping, as C's unsigned-to-int conversion on the sums of the full route
at::Tensor wrap32(const at::Tensor& t) {
  const int64_t low = 0xFFFFFFFFLL, sign = 0x80000000LL;
  return at::bitwise_xor(at::bitwise_and(t, low), sign).sub_(sign);
}

}  // namespace

at::Tensor yuv_to_rgb_tensor(const at::Tensor& y, const at::Tensor& u, const at::Tensor& v, int matrix,
                             bool full_range) {
  const Coefficients c = coefficients(matrix, full_range);
  const int64_t h = y.size(0), w = y.size(1);
  const at::Device device = y.device();
  if (h % 2 == 0) {
    at::Tensor luma = at::bitwise_right_shift(y.to(at::kInt).mul_(8).sub_(c.y_offset3).mul_(c.y_coeff), 16);
    at::Tensor cu = u.to(at::kInt).mul_(8).sub_(1024);
    at::Tensor cv = v.to(at::kInt).mul_(8).sub_(1024);
    at::Tensor r = blocks(at::bitwise_right_shift(cv * c.v2r, 16), h, w);
    at::Tensor g = blocks(at::bitwise_right_shift(cu * c.u2g, 16).add_(at::bitwise_right_shift(cv * c.v2g, 16)), h, w);
    at::Tensor b = blocks(at::bitwise_right_shift(cu * c.u2b, 16), h, w);
    return at::stack({clamp_u8(luma + r), clamp_u8(luma + g), clamp_u8(luma + b)}, 2);
  }
  const int ih = static_cast<int>(h), iw = static_cast<int>(w);
  const std::vector<at::Tensor> tabs = device_tables(
      [&] {
        return "yuv:" + std::to_string(iw) + "x" + std::to_string(ih) + ":" + std::to_string(matrix) +
               (full_range ? "f" : "l");
      },
      device,
      [&] {
        const ChromaFilters f = chroma_filters(iw, ih);
        const Tables t = tables(c);
        auto ints = [](const std::vector<int32_t>& v, int64_t rows, int64_t cols) {
          at::Tensor out = at::empty({rows, cols}, at::TensorOptions().dtype(at::kInt));
          std::copy(v.begin(), v.end(), out.data_ptr<int32_t>());
          return out.to(at::kLong);
        };
        at::Tensor ytab = at::empty({2048}, at::TensorOptions().dtype(at::kLong));
        std::copy(t.y.begin(), t.y.end(), ytab.data_ptr<int64_t>());
        at::Tensor chroma_tabs = at::empty({4, 256}, at::TensorOptions().dtype(at::kLong));
        int64_t* ct = chroma_tabs.data_ptr<int64_t>();
        std::copy(t.r_v.begin(), t.r_v.end(), ct);
        std::copy(t.g_u.begin(), t.g_u.end(), ct + 256);
        std::copy(t.g_v.begin(), t.g_v.end(), ct + 512);
        std::copy(t.b_u.begin(), t.b_u.end(), ct + 768);
        const int64_t vn = int64_t(f.vertical.pos.size());
        std::vector<at::Tensor> out = {ints(f.vertical.pos, vn, 1), ints(f.vertical.coef, vn, f.vertical.size), ytab,
                                       chroma_tabs};
        if (f.full) {
          const int64_t hn = int64_t(f.horizontal.pos.size());
          out.push_back(ints(f.horizontal.pos, hn, 1));
          out.push_back(ints(f.horizontal.coef, hn, f.horizontal.size));
        }
        return out;
      });
  const bool full = tabs.size() == 6;
  const int64_t ch = u.size(0), cw = u.size(1);
  auto chroma15 = [&](const at::Tensor& plane) {
    at::Tensor p = plane.to(at::kLong);
    if (!full) return p.mul(128);
    const at::Tensor& pos = tabs[4];
    const at::Tensor& coef = tabs[5];
    at::Tensor sum = at::zeros({ch, w}, p.options());
    for (int64_t j = 0; j < coef.size(1); ++j)
      sum.add_(p.index_select(1, pos.select(1, 0).add(j).clamp_max(cw - 1)) * coef.select(1, j));
    return at::bitwise_right_shift(sum, 7).clamp_max_((1 << 15) - 1);
  };
  auto vertical = [&](const at::Tensor& p15, int64_t init) {
    const at::Tensor& pos = tabs[0];
    const at::Tensor& coef = tabs[1];
    at::Tensor sum = at::full({h, p15.size(1)}, init, p15.options());
    for (int64_t j = 0; j < coef.size(1); ++j)
      sum.add_(p15.index_select(0, pos.select(1, 0).add(j).clamp_max(ch - 1)) * coef.select(1, j).unsqueeze(1));
    return sum;
  };
  at::Tensor y64 = y.to(at::kLong);
  if (!full) {
    at::Tensor su = at::bitwise_right_shift(vertical(chroma15(u), 1 << 18), 19).clamp_(0, 255);
    at::Tensor sv = at::bitwise_right_shift(vertical(chroma15(v), 1 << 18), 19).clamp_(0, 255);
    const at::Tensor cols = at::bitwise_right_shift(at::arange(w, y64.options()), 1);
    su = su.index_select(1, cols);
    sv = sv.index_select(1, cols);
    const at::Tensor& ytab = tabs[2];
    const at::Tensor& ct = tabs[3];
    auto lookup = [&](const at::Tensor& index) {
      return at::take(ytab, index.add(y64).clamp_(0, 2047)).to(at::kByte);
    };
    at::Tensor r = lookup(at::take(ct[0], sv));
    at::Tensor g = lookup(at::take(ct[1], su).add_(at::take(ct[2], sv)));
    at::Tensor b = lookup(at::take(ct[3], su));
    return at::stack({r, g, b}, 2);
  }
  const int64_t init = (1 << 9) - (int64_t(128) << 19);
  at::Tensor su = at::bitwise_right_shift(wrap32(vertical(chroma15(u), init)), 10);
  at::Tensor sv = at::bitwise_right_shift(wrap32(vertical(chroma15(v), init)), 10);
  at::Tensor luma = y64.mul(512).sub_(c.y_offset9).mul_(c.y_coeff).add_(1 << 21);
  at::Tensor r = wrap32(luma + sv * c.v2r);
  at::Tensor g = wrap32(luma + sv * c.v2g + su * c.u2g);
  at::Tensor b = wrap32(luma + su * c.u2b);
  const at::Tensor out_of_range = at::bitwise_and(at::bitwise_or(at::bitwise_or(r, g), b), int64_t(0xC0000000)).ne(0);
  auto finish = [&](const at::Tensor& t) {
    return at::bitwise_right_shift(at::where(out_of_range, t.clamp(0, (1 << 30) - 1), t), 22).to(at::kByte);
  };
  return at::stack({finish(r), finish(g), finish(b)}, 2);
}

}  // namespace maskformer
