// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

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
}
