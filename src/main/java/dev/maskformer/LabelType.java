// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/** Element type of a label map. */
public enum LabelType {
  /** One unsigned byte per pixel; models with at most 256 classes. */
  U8(0, 1),
  /** One 32-bit little-endian integer per pixel, 4-byte aligned; any number of classes. */
  I32(1, 4);

  private final int code;
  private final int bytes;

  LabelType(int code, int bytes) {
    this.code = code;
    this.bytes = bytes;
  }

  /** The native {@code mf_label_type} value. */
  public int code() {
    return code;
  }

  /** Bytes per label. */
  public int bytes() {
    return bytes;
  }

  /** The smallest type that holds labels 0..numClasses-1. */
  public static LabelType forClasses(int numClasses) {
    return numClasses <= 256 ? U8 : I32;
  }
}
