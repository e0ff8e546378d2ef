// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/** Inference failed inside LibTorch or CUDA ({@link Status#CUDA}, {@link Status#INTERNAL}). */
public class InferenceException extends MaskFormerException {
  private static final long serialVersionUID = 1L;

  public InferenceException(Status status, String message) {
    super(status, message);
  }
}
