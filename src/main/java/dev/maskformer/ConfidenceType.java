// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/** Element type of a confidence map (the winning class's score at each pixel). */
public enum ConfidenceType {
  /** One unsigned byte per pixel: round(255 * min(score, 1)). */
  U8(0, 1),
  /** One 32-bit float per pixel, 4-byte aligned: the score itself (it may exceed 1). */
  F32(1, 4);

  private final int code;
  private final int bytes;

  ConfidenceType(int code, int bytes) {
    this.code = code;
    this.bytes = bytes;
  }

  /** The native {@code mf_confidence_type} value. */
  public int code() {
    return code;
  }

  /** Bytes per pixel. */
  public int bytes() {
    return bytes;
  }
}
