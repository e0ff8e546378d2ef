// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * Host or device memory ran out inside the native library. The model stays usable: free memory
 * (smaller batches or frames) and call again.
 */
public class NativeOutOfMemoryException extends MaskFormerException {
  private static final long serialVersionUID = 1L;

  public NativeOutOfMemoryException(String message) {
    super(Status.OUT_OF_MEMORY, message);
  }
}
