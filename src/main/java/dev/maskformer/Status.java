// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/** Status codes of the native library, mirrored from {@code mf_status} in maskformer.h. */
public enum Status {
  OK(0),
  INVALID_ARGUMENT(1),
  IO(2),
  MODEL_FORMAT(3),
  UNSUPPORTED(4),
  OUT_OF_MEMORY(5),
  CUDA(6),
  INTERNAL(7),
  /** The network's outputs held NaN or infinity, so no labels were written. */
  NOT_FINITE(8),
  /** A code this version of the Java library does not know (a newer shim). */
  UNKNOWN(-1);

  private final int code;

  Status(int code) {
    this.code = code;
  }

  /** The native value. */
  public int code() {
    return code;
  }

  /** The constant for a native value; {@link #UNKNOWN} for values this version does not know. */
  public static Status fromCode(int code) {
    for (Status s : values()) {
      if (s.code == code) {
        return s;
      }
    }
    return UNKNOWN;
  }
}
