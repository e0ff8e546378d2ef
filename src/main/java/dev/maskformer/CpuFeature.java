// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.EnumSet;
import java.util.Set;

/**
 * Instruction-set features of this machine's CPU that matter for inference, as the shim detects
 * them (supported by the processor and enabled by the operating system).
 */
public enum CpuFeature {
  AVX2(1),
  AVX512(2),
  /** Native bf16 dot products: {@link Precision#BF16} runs natively. */
  AVX512_BF16(4),
  /** Advanced Matrix Extensions tiles with bf16: {@link Precision#BF16} runs natively. */
  AMX_BF16(8);

  private final int bit;

  CpuFeature(int bit) {
    this.bit = bit;
  }

  /** The features whose bits are set in {@code bits} (the C ABI's MF_CPU_* values). */
  public static Set<CpuFeature> of(int bits) {
    EnumSet<CpuFeature> set = EnumSet.noneOf(CpuFeature.class);
    for (CpuFeature f : values()) {
      if ((bits & f.bit) != 0) {
        set.add(f);
      }
    }
    return set;
  }

  /** Whether a CPU with these features runs bf16 natively (otherwise bf16 loads are refused). */
  public static boolean nativeBf16(Set<CpuFeature> features) {
    return features.contains(AVX512_BF16) || features.contains(AMX_BF16);
  }
}
