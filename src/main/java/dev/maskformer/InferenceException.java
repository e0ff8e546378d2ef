// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * A call on a loaded model failed inside LibTorch or CUDA ({@link Status#CUDA}, {@link Status#INTERNAL}), or the
 * network broke its output contract ({@link Status#MODEL_FORMAT}: outputs of other shapes, {@link Status#NOT_FINITE}:
 * NaN or infinite scores), or reading it failed ({@link Status#IO}).
 */
public class InferenceException extends MaskFormerException {
  private static final long serialVersionUID = 1L;

  public InferenceException(Status status, String message) {
    super(status, message);
  }
}
