// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

import dev.maskformer.InferenceException;
import dev.maskformer.ModelLoadException;
import dev.maskformer.NativeOutOfMemoryException;
import dev.maskformer.Status;
import dev.maskformer.UnsupportedDeviceException;
import dev.maskformer.internal.ffi.maskformer_h;
import java.lang.foreign.MemorySegment;

/**
 * Turns native status codes into Java exceptions.
 *
 * <p>Message shape: {@code "<operation> failed: <STATUS>: <native text> (<context>)"}. The native
 * text is read from {@code mf_last_error()} on the calling thread right after the failing call.
 *
 * <p>Thread-safety: stateless.
 */
public final class NativeStatus {
  private NativeStatus() {}

  /** Throws the exception for {@code status} unless it is {@code MF_OK}. */
  public static void check(int status, String operation, String context) {
    if (status == maskformer_h.MF_OK()) {
      return;
    }
    Status s = Status.fromCode(status);
    String message =
        operation + " failed: " + s + ": " + lastError() + (context == null ? "" : " (" + context + ")");
    throw exceptionFor(s, message);
  }

  /** The exception type a status maps to, as in the error table of docs/errors.md. */
  public static RuntimeException exceptionFor(Status status, String message) {
    return switch (status) {
      case IO, MODEL_FORMAT -> new ModelLoadException(status, message);
      case UNSUPPORTED -> new UnsupportedDeviceException(message);
      case OUT_OF_MEMORY -> new NativeOutOfMemoryException(message);
      case INVALID_ARGUMENT -> new IllegalArgumentException(message);
      case OK -> new IllegalStateException("not an error: " + message);
      case CUDA, INTERNAL, NOT_FINITE, UNKNOWN -> new InferenceException(status, message);
    };
  }

  /** This thread's last native error text, or "no details". */
  public static String lastError() {
    MemorySegment text = maskformer_h.mf_last_error();
    if (text.equals(MemorySegment.NULL)) {
      return "no details";
    }
    return text.reinterpret(Limits.ERROR_TEXT_SIZE).getString(0);
  }
}
