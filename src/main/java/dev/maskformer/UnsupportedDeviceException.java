// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/** The requested device or precision is not available here (for example CUDA without a GPU). */
public class UnsupportedDeviceException extends MaskFormerException {
  private static final long serialVersionUID = 1L;

  public UnsupportedDeviceException(String message) {
    super(Status.UNSUPPORTED, message);
  }
}
