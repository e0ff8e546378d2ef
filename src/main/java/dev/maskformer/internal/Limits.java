// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import dev.maskformer.internal.ffi.maskformer_h;

/**
 * Limits the C ABI defines (cpp/include/maskformer.h), read from the generated bindings so that
 * each is written once. Reading them loads no native code.
 */
public final class Limits {
  private Limits() {}

  /** MF_MAX_IMAGE_SIDE: the largest width or height of an image. */
  public static final int MAX_IMAGE_SIDE = maskformer_h.MF_MAX_IMAGE_SIDE();

  /** MF_ERROR_TEXT_SIZE: bytes of the per-thread error text, NUL included. */
  public static final int ERROR_TEXT_SIZE = maskformer_h.MF_ERROR_TEXT_SIZE();
}
