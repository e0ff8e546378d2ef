// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import dev.maskformer.ImageLayout.ColorMatrix;
import dev.maskformer.ImageLayout.ColorRange;
import dev.maskformer.ImageLayout.Plane;
import dev.maskformer.MaskFormer.Size;
import dev.maskformer.ModelInfo.ClassInfo;
import dev.maskformer.Output.LabelType;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Value types and argument checks; no native code. */
class TypesTest {
  @Test
  void layoutArithmetic() {
    ImageLayout packed = ImageLayout.packed(97, 61, PixelFormat.RGB);
    assertEquals(97 * 3, packed.stride());
    assertEquals(97L * 61 * 3, packed.byteSize());
    ImageLayout padded = new ImageLayout(97, 61, 97 * 4 + 12, PixelFormat.BGRA);
    // the last row needs no padding
    assertEquals(60L * (97 * 4 + 12) + 97 * 4, padded.byteSize());
    assertEquals(97L * 61, padded.pixels());
  }

  @Test
  void layoutRejectsBadGeometry() {
    assertThrows(IllegalArgumentException.class, () -> ImageLayout.packed(0, 10, PixelFormat.RGB));
    assertThrows(IllegalArgumentException.class, () -> ImageLayout.packed(10, 40000, PixelFormat.RGB));
    var e = assertThrows(IllegalArgumentException.class,
        () -> new ImageLayout(10, 10, 29, PixelFormat.RGB));
    assertTrue(e.getMessage().contains("stride 29"), e.getMessage());
    assertThrows(NullPointerException.class, () -> new ImageLayout(10, 10, 30, null));
  }

  @Test
  void deviceParsing() {
    assertEquals(Device.CPU, Device.parse("cpu"));
    assertEquals(Device.cuda(0), Device.parse("cuda"));
    assertEquals(Device.cuda(3), Device.parse("CUDA:3"));
    assertEquals("cuda:3", Device.cuda(3).toString());
    assertTrue(Device.CPU.isCpu());
    assertFalse(Device.cuda(0).isCpu());
    assertThrows(IllegalArgumentException.class, () -> Device.parse("tpu"));
    assertThrows(IllegalArgumentException.class, () -> Device.parse("cuda:-1"));
    assertThrows(IllegalArgumentException.class, () -> Device.parse("cuda:x"));
  }

  @Test
  void precisionParsing() {
    assertEquals(Precision.FP16, Precision.parse("fp16"));
    assertEquals(Precision.BF16, Precision.parse(" BF16 "));
    assertEquals("fp32", Precision.FP32.toString());
    assertThrows(IllegalArgumentException.class, () -> Precision.parse("int8"));
  }

  @Test
  void sizes() {
    assertEquals(new Size(1920, 1080), Size.parse("1920x1080"));
    assertThrows(IllegalArgumentException.class, () -> Size.parse("1920*1080"));
    assertThrows(IllegalArgumentException.class, () -> Size.parse("0x10"));
  }

  @Test
  void labelTypes() {
    assertEquals(LabelType.U8, LabelType.forClasses(150));
    assertEquals(LabelType.U8, LabelType.forClasses(256));
    assertEquals(LabelType.I32, LabelType.forClasses(257));
    assertEquals(4, LabelType.I32.bytes());
  }

  @Test
  void optionsAreImmutable() {
    SegmentOptions o = SegmentOptions.DEFAULTS.withScores(true).withLabelType(LabelType.I32);
    assertTrue(o.scores());
    assertFalse(SegmentOptions.DEFAULTS.scores());
    assertTrue(o.resize());
    LoadOptions l = LoadOptions.DEFAULTS.withDevice(Device.cuda(1)).withPrecision(Precision.FP16);
    assertEquals(Device.cuda(1), l.device());
    assertEquals(Device.CPU, LoadOptions.DEFAULTS.device());
    assertThrows(IllegalArgumentException.class, () -> LoadOptions.DEFAULTS.withIntraOpThreads(-1));
    // .pt2 packages run native code: never allowed unless asked for, and kept by every with*()
    assertFalse(LoadOptions.DEFAULTS.trustedNativeCode());
    // the CPU rewrites are on unless turned off, and every with*() keeps the choice
    assertEquals(CpuRewrites.IN_BACKGROUND, LoadOptions.DEFAULTS.cpuRewrites());
    assertEquals(CpuRewrites.IN_BACKGROUND, new LoadOptions(Device.CPU, Precision.FP32, 0, false, 0).cpuRewrites());
    assertEquals(CpuRewrites.NONE, LoadOptions.DEFAULTS.withCpuRewrites(false).withDevice(Device.CPU).withPrecision(Precision.BF16)
        .withIntraOpThreads(2).withJitOptimize(true).withAsyncThreads(3).withTrustedNativeCode(true).cpuRewrites());
    assertEquals(CpuRewrites.IN_BACKGROUND, LoadOptions.DEFAULTS.withCpuRewrites(CpuRewrites.AT_LOAD).withCpuRewrites(true).cpuRewrites());
    assertEquals(CpuRewrites.AT_LOAD, LoadOptions.DEFAULTS.withCpuRewrites(CpuRewrites.AT_LOAD).cpuRewrites());
    assertThrows(NullPointerException.class, () -> LoadOptions.DEFAULTS.withCpuRewrites((CpuRewrites) null));
    // the codes of the C ABI's mf_cpu_rewrites
    assertEquals(2, CpuRewrites.IN_BACKGROUND.code());
    assertEquals(0, CpuRewrites.AT_LOAD.code());
    assertEquals(1, CpuRewrites.NONE.code());
    LoadOptions trusted = LoadOptions.DEFAULTS.withTrustedNativeCode(true);
    assertTrue(trusted.withDevice(Device.CPU).withPrecision(Precision.BF16).withIntraOpThreads(2)
        .withJitOptimize(true).withAsyncThreads(3).trustedNativeCode());
    assertFalse(new LoadOptions(Device.CPU, Precision.FP32, 0, false, 0).trustedNativeCode());
  }

  @Test
  void classNames() {
    assertEquals("building", new ClassInfo(1, "building, edifice", 0xB47878).shortName());
    assertEquals("sky", new ClassInfo(2, "sky", 0).shortName());
  }

  @Test
  void hugeStridesThatOverflowAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new ImageLayout(1, 5, (1L << 62) + 1, PixelFormat.RGB));
    assertThrows(IllegalArgumentException.class, () -> new ImageLayout(5, 32768, Long.MAX_VALUE / 2, PixelFormat.RGBA));
    ImageLayout big = new ImageLayout(4, 3, 1L << 40, PixelFormat.RGB); // large but representable
    assertEquals(2 * (1L << 40) + 12, big.byteSize());
    assertEquals(32768, ImageLayout.MAX_SIDE);
  }

  @Test
  void yuvLayoutsMatchFfmpegRawFrames() {
    // ffmpeg's rawvideo (and JavaCV's) layouts: planes back to back, chroma strides from the width
    ImageLayout i420 = new ImageLayout(323, 241, 323, PixelFormat.I420);
    assertEquals(java.util.List.of(new Plane(323L * 241, 162), new Plane(323L * 241 + 162L * 121, 162)), i420.chroma());
    assertEquals(323L * 241 + 2L * 162 * 121, i420.byteSize());
    ImageLayout nv12 = new ImageLayout(323, 241, 323, PixelFormat.NV12);
    assertEquals(java.util.List.of(new Plane(323L * 241, 324)), nv12.chroma());
    assertEquals(323L * 241 + 324L * 121, nv12.byteSize());
    assertEquals(nv12, ImageLayout.packed(323, 241, PixelFormat.NV12));
    ImageLayout paddedNv12 = new ImageLayout(1920, 1080, 2048, PixelFormat.NV12);
    assertEquals(java.util.List.of(new Plane(2048L * 1080, 2048)), paddedNv12.chroma());
    assertEquals(ColorMatrix.BT601, i420.matrix());
    assertEquals(ColorRange.LIMITED, i420.range());
  }


  @Test
  void yuvLayoutsRefuseBadPlanes() {
    int w = 64;
    int h = 48;
    assertThrows(IllegalArgumentException.class, () -> ImageLayout.yuv(PixelFormat.I420, w, h, w, new Plane(w * h, 32)));
    var e = assertThrows(IllegalArgumentException.class,
        () -> ImageLayout.yuv(PixelFormat.I420, w, h, w, new Plane(w * h, 31), new Plane(w * h + 32 * 24, 32)));
    assertTrue(e.getMessage().contains("U plane stride 31"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> ImageLayout.yuv(PixelFormat.NV12, w, h, w, new Plane(w * h, 63)));
    assertTrue(e.getMessage().contains("UV plane stride 63"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> ImageLayout.yuv(PixelFormat.NV12, w, h, w, new Plane(Long.MAX_VALUE - 100, 64)));
    assertTrue(e.getMessage().contains("Long.MAX_VALUE"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ImageLayout.yuv(PixelFormat.NV12, w, h, w, new Plane(0, Long.MAX_VALUE / 4)));
    assertThrows(IllegalArgumentException.class, () -> new ImageLayout(w, h, w - 1, PixelFormat.NV12));
    assertThrows(IllegalArgumentException.class, () -> new ImageLayout(w, 32768, Long.MAX_VALUE / 4, PixelFormat.I420));
    assertThrows(IllegalArgumentException.class, () -> new Plane(-1, 10));
    assertThrows(IllegalArgumentException.class, () -> ImageLayout.yuv(PixelFormat.RGB, w, h, w * 3));
    assertThrows(IllegalArgumentException.class, () -> new ImageLayout(w, h, w * 3, PixelFormat.RGB,
        java.util.List.of(new Plane(0, 8)), ColorMatrix.BT601, ColorRange.LIMITED));
    assertThrows(NullPointerException.class,
        () -> new ImageLayout(w, h, w, PixelFormat.I420).withColor(null, ColorRange.FULL));
  }
}
