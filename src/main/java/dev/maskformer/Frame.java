// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ImageLayout.Plane;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;

/**
 * An image in caller-owned off-heap memory. The library reads the pixels during a call and never
 * copies them on the Java side or keeps them afterwards.
 *
 * <p>A YUV frame's planes lie in {@code pixels} at the offsets its layout gives, or, made with
 * {@link #ofPlanes}, each chroma plane in a segment of its own (a decoder's separate buffers).
 *
 * <p>Ownership: the caller's; the memory must stay alive during calls that use the frame (closing
 * its arena meanwhile fails the call with an exception, it never reads freed memory).
 *
 * @param pixels off-heap memory holding the image ({@code layout.byteSize()} bytes), or with
 *     separate chroma segments the luma plane ({@code layout.lumaBytes()} bytes)
 * @param layout geometry and pixel format
 * @param chromaSegments empty, or one segment per chroma plane of a YUV layout (NV12/NV21: the
 *     interleaved plane; I420: U, then V), each holding its plane at the layout's offset
 */
public record Frame(MemorySegment pixels, ImageLayout layout, List<MemorySegment> chromaSegments) {
  public Frame {
    Objects.requireNonNull(pixels, "pixels");
    Objects.requireNonNull(layout, "layout");
    Objects.requireNonNull(chromaSegments, "chromaSegments");
    chromaSegments = List.copyOf(chromaSegments);
    Checks.nativeSegment(pixels, "pixels");
    if (chromaSegments.isEmpty()) {
      if (pixels.byteSize() < layout.byteSize()) {
        throw new IllegalArgumentException("pixels hold " + pixels.byteSize() + " bytes, " + layout
            + " needs " + layout.byteSize());
      }
    } else {
      if (chromaSegments.size() != layout.format().chromaPlanes()) {
        throw new IllegalArgumentException(layout.format() + " has " + layout.format().chromaPlanes()
            + " chroma plane(s), got " + chromaSegments.size() + " segments");
      }
      if (pixels.byteSize() < layout.lumaBytes()) {
        throw new IllegalArgumentException("luma plane holds " + pixels.byteSize() + " bytes, "
            + layout + " needs " + layout.lumaBytes());
      }
      for (int i = 0; i < chromaSegments.size(); i++) {
        MemorySegment s = chromaSegments.get(i);
        String name = ImageLayout.planeName(layout.format(), i);
        Checks.nativeSegment(s, name);
        long need = layout.chroma().get(i).offset() + layout.chromaBytes(i);
        if (s.byteSize() < need) {
          throw new IllegalArgumentException(name + " segment holds " + s.byteSize() + " bytes, "
              + layout + " needs " + need);
        }
      }
    }
  }

  /** A frame whose planes all lie in {@code pixels}. */
  public Frame(MemorySegment pixels, ImageLayout layout) {
    this(pixels, layout, List.of());
  }

  /** A frame of tightly packed rows (YUV: planes one after the other, strides as wide as the image). */
  public static Frame of(MemorySegment pixels, int width, int height, PixelFormat format) {
    return new Frame(pixels, ImageLayout.packed(width, height, format));
  }

  /**
   * A YUV frame whose planes lie in separate segments: {@code luma} holds the Y plane at offset 0
   * with the layout's stride, each of {@code chroma} its plane at the offset {@code layout.chroma()}
   * gives (usually 0), e.g. an ffmpeg {@code AVFrame}'s {@code data[0..2]} with {@code
   * ImageLayout.yuv(I420, w, h, linesize[0], new Plane(0, linesize[1]), new Plane(0, linesize[2]))}.
   */
  public static Frame ofPlanes(ImageLayout layout, MemorySegment luma, MemorySegment... chroma) {
    Objects.requireNonNull(layout, "layout");
    Objects.requireNonNull(chroma, "chroma");
    if (!layout.format().isYuv()) {
      throw new IllegalArgumentException(layout.format() + " has one plane: use new Frame(pixels, layout)");
    }
    for (int i = 0; i < chroma.length; i++) {
      Objects.requireNonNull(chroma[i], "chroma " + i);
    }
    return new Frame(luma, layout, List.of(chroma));
  }

  public int width() {
    return layout.width();
  }

  public int height() {
    return layout.height();
  }

  /** The segment that holds chroma plane {@code i} (at its layout offset): its own, or {@code pixels}. */
  public MemorySegment chromaSegment(int i) {
    return chromaSegments.isEmpty() ? pixels : chromaSegments.get(i);
  }

  /**
   * Writes this frame as packed RGB, {@code width * height * 3} bytes in rows of {@code width * 3}, as a
   * model's pre-processing sees it before the resize: packed formats reordered, YUV frames
   * converted exactly as {@code ffmpeg -pix_fmt rgb24} converts the same frame (ffmpeg 5.1's
   * swscale on x86: bit for bit, odd sizes included). Runs on the CPU; for overlays, checks, or
   * saving what the model saw.
   *
   * @throws IllegalArgumentException {@code rgb} is a heap or read-only segment, or too small
   */
  public void toRgb(MemorySegment rgb) {
    Objects.requireNonNull(rgb, "rgb");
    Checks.nativeSegment(pixels, "frame pixels");
    for (MemorySegment chroma : chromaSegments) {
      Checks.nativeSegment(chroma, "frame chroma plane");
    }
    Checks.nativeSegment(rgb, "rgb");
    Checks.writable(rgb, "rgb");
    long need = layout.pixels() * 3;
    if (rgb.byteSize() < need) {
      throw new IllegalArgumentException("rgb holds " + rgb.byteSize() + " bytes, " + layout
          + " needs " + need);
    }
    NativeCalls.run(() -> dev.maskformer.internal.NativeRuntime.toRgb(NativeCalls.image(this), rgb, layout.toString()));
  }
}
