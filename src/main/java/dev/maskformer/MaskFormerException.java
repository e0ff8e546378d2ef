// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Base of the exceptions for failures inside the native library. Programming errors (bad
 * arguments, closed objects) are reported with the JDK's {@link IllegalArgumentException}, {@link
 * IllegalStateException} and {@link NullPointerException} instead.
 */
public class MaskFormerException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final Status status;

  public MaskFormerException(Status status, String message) {
    this(status, message, null);
  }

  public MaskFormerException(Status status, String message, Throwable cause) {
    super(message, cause);
    this.status = status;
  }

  /** The native status behind this failure. */
  public Status status() {
    return status;
  }
}
