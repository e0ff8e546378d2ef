// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/** The file format of a loaded model (models/export.py --format). */
public enum ModelFormat {
  /** A TorchScript archive (.pt): runs at any network size, on any device, in any precision. */
  TORCHSCRIPT,
  /**
   * An AOTInductor package (.pt2): code compiled ahead of time for one device, one precision and
   * the network sizes it lists. Loading one runs native code from the file ({@link
   * LoadOptions#withTrustedNativeCode(boolean)}).
   */
  AOTI;

  static ModelFormat fromCode(int code) {
    return switch (code) {
      case 0 -> TORCHSCRIPT;
      case 1 -> AOTI;
      default -> throw new IllegalStateException("unknown model format code " + code);
    };
  }
}
