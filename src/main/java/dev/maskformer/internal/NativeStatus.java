// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import dev.maskformer.internal.ffi.maskformer_h;
import java.lang.foreign.MemorySegment;

/**
 * Turns native status codes into {@link NativeException}s, with the native text read from {@code
 * mf_last_error()} on the calling thread right after the failing call.
 *
 * <p>Thread-safety: stateless.
 */
final class NativeStatus {
  private NativeStatus() {}

  /** Throws the exception for {@code status} unless it is {@code MF_OK}. */
  static void check(int status, String operation, String context) {
    if (status != maskformer_h.MF_OK()) {
      throw failure(status, operation, context);
    }
  }

  /** The exception for a failed call (read the native text before any other native call). */
  static NativeException failure(int status, String operation, String context) {
    return new NativeException(status, operation, lastError(), context);
  }

  /** This thread's last native error text, or "no details". */
  static String lastError() {
    MemorySegment text = maskformer_h.mf_last_error();
    if (text.equals(MemorySegment.NULL)) {
      return "no details";
    }
    return text.reinterpret(Limits.ERROR_TEXT_SIZE).getString(0);
  }
}
