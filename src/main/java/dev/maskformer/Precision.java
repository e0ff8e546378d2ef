// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.Locale;

/** Numeric precision of the network. Pre- and post-processing always run in fp32. */
public enum Precision {
  /** 32-bit floats, everywhere. */
  FP32(0),
  /** Half precision; CUDA only. */
  FP16(1),
  /** bfloat16; CUDA, and CPUs where LibTorch supports it. */
  BF16(2);

  private final int code;

  Precision(int code) {
    this.code = code;
  }

  /** The native {@code mf_precision} value. */
  public int code() {
    return code;
  }

  static Precision fromCode(int code) {
    for (Precision p : values()) {
      if (p.code == code) {
        return p;
      }
    }
    throw new IllegalArgumentException("unknown precision code " + code);
  }

  /** Parses {@code fp32}, {@code fp16} or {@code bf16} (case-insensitive). */
  public static Precision parse(String text) {
    try {
      return valueOf(text.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("precision must be fp32, fp16 or bf16, got '" + text + "'");
    }
  }

  @Override
  public String toString() {
    return name().toLowerCase(Locale.ROOT);
  }
}
