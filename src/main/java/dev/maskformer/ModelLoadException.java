// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

/**
 * A model file could not be loaded: missing or unreadable ({@link Status#IO}), or not a MaskFormer
 * export, truncated, corrupt, without or with invalid metadata ({@link Status#MODEL_FORMAT}).
 */
public class ModelLoadException extends MaskFormerException {
  private static final long serialVersionUID = 1L;

  public ModelLoadException(Status status, String message) {
    super(status, message);
  }

  public ModelLoadException(Status status, String message, Throwable cause) {
    super(status, message, cause);
  }
}
