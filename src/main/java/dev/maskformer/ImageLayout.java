// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.internal.Limits;
import java.util.List;
import java.util.Objects;

/**
 * Geometry of an image in memory: rows of {@code stride} bytes. A stride larger than the row's
 * bytes describes padded rows (as many video decoders produce); they are read as they are.
 *
 * <p>Packed formats: {@code format.channels()} bytes a pixel in one plane. YUV 4:2:0 formats
 * ({@link PixelFormat#isYuv()}): {@code stride} is the luma (Y) plane's, and {@link #chroma()}
 * says where each chroma plane lies and its own stride. The common case, one buffer with the
 * planes one after the other, is {@code new ImageLayout(width, height, stride, PixelFormat.NV12)}
 * (or I420, NV21): the chroma follows {@code stride * height} bytes of luma, with rows as long as
 * the luma's ({@code stride}, at least {@code 2 * ceil(width/2)}) for NV12/NV21 and half as long
 * ({@code ceil(stride/2)}) for I420 (U, then V), the layout of ffmpeg's raw frames and of JavaCV's.
 * Padded planes are {@link #yuv(PixelFormat, int, int, long, Plane...)}; planes in separate
 * segments are {@link Frame#ofPlanes}. The colours: {@link #withColor}.
 *
 * @param width pixels per row, 1..{@link #MAX_SIDE}
 * @param height rows, 1..{@link #MAX_SIDE}
 * @param stride bytes from the start of one row to the next (YUV: of the luma plane), at least
 *     {@code width * format.channels()}
 * @param format how a pixel is stored
 * @param chroma YUV: the chroma planes (NV12/NV21 one, I420 U then V); packed: empty
 * @param matrix YUV: the colour matrix (default {@link ColorMatrix#BT601}, as ffmpeg's)
 * @param range YUV: the value range (default {@link ColorRange#LIMITED}, as ffmpeg's)
 */
public record ImageLayout(int width, int height, long stride, PixelFormat format, List<Plane> chroma,
    ColorMatrix matrix, ColorRange range) {
  /** Largest accepted width or height (the C ABI's MF_MAX_IMAGE_SIDE). */
  public static final int MAX_SIDE = Limits.MAX_IMAGE_SIDE;

  public ImageLayout {
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(chroma, "chroma");
    Objects.requireNonNull(matrix, "matrix");
    Objects.requireNonNull(range, "range");
    chroma = List.copyOf(chroma);
    if (width < 1 || width > MAX_SIDE || height < 1 || height > MAX_SIDE) {
      throw new IllegalArgumentException(
          "image size " + width + "x" + height + " outside 1.." + MAX_SIDE);
    }
    String what = format.isYuv() ? "luma stride " : "stride ";
    if (stride < (long) width * format.channels()) {
      throw new IllegalArgumentException(what + stride + " < width * channels = "
          + (long) width * format.channels() + " for " + width + "x" + height + " " + format);
    }
    span(height, stride, (long) width * format.channels(), 0, what.strip(), width, height, format);
    if (chroma.size() != format.chromaPlanes()) {
      throw new IllegalArgumentException(format + " has " + format.chromaPlanes()
          + " chroma plane(s), got " + chroma.size() + " (" + width + "x" + height + ")");
    }
    long rowBytes = format.chromaRowBytes(width);
    for (int i = 0; i < chroma.size(); i++) {
      Plane p = Objects.requireNonNull(chroma.get(i), "chroma plane " + i);
      String name = planeName(format, i);
      if (p.stride() < rowBytes) {
        throw new IllegalArgumentException(name + " stride " + p.stride() + " < its row's "
            + rowBytes + " bytes (" + width + "x" + height + " " + format + ")");
      }
      span((height + 1) / 2, p.stride(), rowBytes, p.offset(), name, width, height, format);
    }
  }

  /** A packed image, or a YUV image in one buffer with the planes one after the other (see above). */
  public ImageLayout(int width, int height, long stride, PixelFormat format) {
    this(width, height, stride, format, contiguousChroma(height, stride, format, width),
        ColorMatrix.BT601, ColorRange.LIMITED);
  }

  /** Tightly packed rows: stride {@code width * channels} (YUV: {@code width}, planes contiguous). */
  public static ImageLayout packed(int width, int height, PixelFormat format) {
    Objects.requireNonNull(format, "format");
    return new ImageLayout(width, height, (long) width * format.channels(), format);
  }

  /**
   * A YUV image whose chroma planes lie where {@code chroma} says (offsets into the frame's
   * segment, or into each plane's own segment with {@link Frame#ofPlanes}): padded planes, a
   * decoder's aligned buffers. NV12/NV21: one plane; I420: U, then V.
   */
  public static ImageLayout yuv(PixelFormat format, int width, int height, long lumaStride, Plane... chroma) {
    Objects.requireNonNull(format, "format");
    Objects.requireNonNull(chroma, "chroma");
    if (!format.isYuv()) {
      throw new IllegalArgumentException(format + " is not a YUV format");
    }
    return new ImageLayout(width, height, lumaStride, format, List.of(chroma), ColorMatrix.BT601,
        ColorRange.LIMITED);
  }

  /** The same layout with a YUV frame's colour matrix and range (for packed formats they are not used). */
  public ImageLayout withColor(ColorMatrix matrix, ColorRange range) {
    return new ImageLayout(width, height, stride, format, chroma, matrix, range);
  }

  /**
   * Bytes the image spans in one segment: every row's stride except the last row's padding; for
   * YUV the end of the plane that ends last.
   */
  public long byteSize() {
    long size = lumaBytes();
    for (int i = 0; i < chroma.size(); i++) {
      size = Math.max(size, chroma.get(i).offset() + chromaBytes(i));
    }
    return size;
  }

  /** Bytes the (luma) plane's rows span: {@code (height - 1) * stride + width * channels}. */
  public long lumaBytes() {
    return (height - 1L) * stride + (long) width * format.channels();
  }

  /** Bytes chroma plane {@code i}'s rows span, from its offset. */
  public long chromaBytes(int i) {
    return ((height + 1L) / 2 - 1) * chroma.get(i).stride() + format.chromaRowBytes(width);
  }

  /** width * height. */
  public long pixels() {
    return (long) width * height;
  }

  @Override
  public String toString() {
    if (!format.isYuv()) {
      return width + "x" + height + " " + format + " (stride " + stride + ")";
    }
    StringBuilder s = new StringBuilder().append(width).append('x').append(height).append(' ')
        .append(format).append(' ').append(matrix).append(' ').append(range).append(" (luma stride ")
        .append(stride);
    for (int i = 0; i < chroma.size(); i++) {
      s.append(", ").append(planeName(format, i)).append(" at ").append(chroma.get(i).offset())
          .append(" stride ").append(chroma.get(i).stride());
    }
    return s.append(')').toString();
  }

  static String planeName(PixelFormat format, int i) {
    return switch (format) {
      case I420 -> i == 0 ? "U plane" : "V plane";
      case NV21 -> "VU plane";
      default -> "UV plane";
    };
  }

  /** offset + (rows - 1) * stride + rowBytes, refusing a sum past Long.MAX_VALUE. */
  private static void span(long rows, long stride, long rowBytes, long offset, String what, int width,
      int height, PixelFormat format) {
    try {
      Math.addExact(offset, Math.addExact(Math.multiplyExact(rows - 1, stride), rowBytes));
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(what + " stride " + stride + " for " + rows
          + " rows spans more than Long.MAX_VALUE bytes (" + width + "x" + height + " " + format + ")");
    }
  }

  /** The chroma planes of a YUV frame in one buffer after stride * height bytes of luma. */
  private static List<Plane> contiguousChroma(int height, long stride, PixelFormat format, int width) {
    Objects.requireNonNull(format, "format");
    if (!format.isYuv() || height < 1 || width < 1 || stride < width) {
      return List.of(); // packed, or refused by the canonical constructor
    }
    long offset;
    try {
      offset = Math.multiplyExact(stride, (long) height);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("luma stride " + stride + " for " + height
          + " rows spans more than Long.MAX_VALUE bytes (" + width + "x" + height + " " + format + ")");
    }
    if (format != PixelFormat.I420) {
      return List.of(new Plane(offset, Math.max(stride, format.chromaRowBytes(width))));
    }
    long chromaStride = (stride + 1) / 2;
    long vOffset;
    try {
      vOffset = Math.addExact(offset, Math.multiplyExact(chromaStride, (height + 1L) / 2));
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("luma stride " + stride + " for " + height
          + " rows spans more than Long.MAX_VALUE bytes (" + width + "x" + height + " " + format + ")");
    }
    return List.of(new Plane(offset, chromaStride), new Plane(vOffset, chromaStride));
  }

  /**
   * Where a chroma plane of a YUV frame lies: {@code offset} bytes from the start of the memory that
   * holds it (the frame's one segment, or the plane's own segment, see {@link Frame#ofPlanes}), rows
   * {@code stride} bytes apart.
   *
   * @param offset bytes from the start of the segment to the plane's first row, {@code >= 0}
   * @param stride bytes from one row to the next, at least the row's bytes ({@code ceil(width/2)}
   *     for I420, {@code 2 * ceil(width/2)} for NV12 and NV21)
   */
  public record Plane(long offset, long stride) {
    public Plane {
      if (offset < 0) {
        throw new IllegalArgumentException("plane offset " + offset + " < 0");
      }
      if (stride < 1) {
        throw new IllegalArgumentException("plane stride " + stride + " < 1");
      }
    }
  }

  /**
   * The colour matrix of a YUV frame (ignored for packed formats). {@link #BT601} is the default,
   * as in ffmpeg for a frame that does not say: SD video and JPEG use it, HD video is usually
   * {@link #BT709}. Take it from the stream (ffprobe's {@code color_space}: {@code bt709} is BT.709,
   * {@code bt470bg}, {@code smpte170m} and unknown are BT.601, {@code bt2020nc} is BT.2020).
   */
  public enum ColorMatrix {
    /** ITU-R BT.601 (ffmpeg's bt470bg, smpte170m, and its default). */
    BT601(0),
    /** ITU-R BT.709. */
    BT709(1),
    /** ITU-R BT.2020, non-constant luminance, 8-bit samples. */
    BT2020(2);

    private final int code;

    ColorMatrix(int code) {
      this.code = code;
    }

    /** The native {@code mf_yuv_matrix} value. */
    public int code() {
      return code;
    }
  }

  /**
   * The value range of a YUV frame (ignored for packed formats). {@link #LIMITED} is the default, as
   * in ffmpeg: video is limited range unless the stream says otherwise (ffprobe's {@code
   * color_range=pc}, or a {@code yuvj420p} pixel format, which is full range).
   */
  public enum ColorRange {
    /** Y in 16..235, U and V in 16..240 ("tv", MPEG). */
    LIMITED(0),
    /** 0..255 ("pc", JPEG). */
    FULL(1);

    private final int code;

    ColorRange(int code) {
      this.code = code;
    }

    /** The native {@code mf_yuv_range} value. */
    public int code() {
      return code;
    }
  }
}
