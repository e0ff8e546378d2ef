// SPDX-License-Identifier: Apache-2.0
package dev.maskformer.internal;

/**
 * A failure of the native side, as this package reports it: an {@code mf_status} with the
 * operation, the native text and what it was about, or ({@link #LIBRARY}) the native library that
 * could not be loaded. The public package turns it into its exception types, with the message
 * {@code "<operation> failed: <STATUS>: <native text> (<context>)"}.
 *
 * <p>Thread-safety: immutable.
 */
public final class NativeException extends RuntimeException {
  /** {@link #status()} of a native library that could not be loaded (the message says why). */
  public static final int LIBRARY = -1;

  private final int status;
  private final String operation;
  private final String text;
  private final String context;

  NativeException(int status, String operation, String text, String context) {
    super(operation + " failed: status " + status + ": " + text + (context == null ? "" : " (" + context + ")"));
    this.status = status;
    this.operation = operation;
    this.text = text;
    this.context = context;
  }

  NativeException(String message, Throwable cause) {
    super(message, cause);
    this.status = LIBRARY;
    this.operation = "load the native library";
    this.text = message;
    this.context = null;
  }

  /** The mf_status code, or {@link #LIBRARY}. */
  public int status() {
    return status;
  }

  /** What was being done, e.g. "load" or "segment". */
  public String operation() {
    return operation;
  }

  /** The native side's text ({@code mf_last_error()}), or the loader's report. */
  public String text() {
    return text;
  }

  /** The file or shape concerned, or null. */
  public String context() {
    return context;
  }
}
