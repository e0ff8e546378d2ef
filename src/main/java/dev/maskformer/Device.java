// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.Locale;

/**
 * Where a model runs: the CPU or one CUDA device.
 *
 * @param index -1 for the CPU, the CUDA device index otherwise
 */
public record Device(int index) {
  /** The CPU. */
  public static final Device CPU = new Device(-1);

  public Device {
    if (index < -1) {
      throw new IllegalArgumentException("device index must be -1 (CPU) or >= 0, got " + index);
    }
  }

  /** CUDA device {@code index}. */
  public static Device cuda(int index) {
    if (index < 0) {
      throw new IllegalArgumentException("CUDA device index must be >= 0, got " + index);
    }
    return new Device(index);
  }

  /** Parses {@code cpu}, {@code cuda} (device 0) or {@code cuda:N}. */
  public static Device parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    if (t.equals("cpu")) {
      return CPU;
    }
    if (t.equals("cuda") || t.equals("gpu")) {
      return cuda(0);
    }
    if (t.startsWith("cuda:")) {
      try {
        return cuda(Integer.parseInt(t.substring(5)));
      } catch (NumberFormatException e) {
        // fall through to the error below
      }
    }
    throw new IllegalArgumentException("device must be cpu, cuda or cuda:N, got '" + text + "'");
  }

  public boolean isCpu() {
    return index < 0;
  }

  public boolean isCuda() {
    return index >= 0;
  }

  @Override
  public String toString() {
    return isCpu() ? "cpu" : "cuda:" + index;
  }
}
