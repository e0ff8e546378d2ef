// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * The native shim (or the LibTorch it needs) could not be loaded, or its ABI version does not
 * match this jar. The message lists every place that was tried and what to install.
 */
public class NativeLibraryException extends MaskFormerException {
  private static final long serialVersionUID = 1L;

  public NativeLibraryException(String message, Throwable cause) {
    super(Status.UNKNOWN, message, cause);
  }
}
