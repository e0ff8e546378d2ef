// SPDX-License-Identifier: Apache-2.0
package dev.maskformer;

import java.util.concurrent.CancellationException;

/**
 * A frame given to a {@link StreamSegmenter} in {@link StreamSegmenter.Mode#LATEST_FRAME} mode was
 * not segmented: a newer frame replaced it while it waited, or every buffer was busy. Its future
 * is cancelled with this exception ({@code isCancelled()} is true), and {@link
 * StreamSegmenter#dropped()} counts it.
 */
public final class FrameDroppedException extends CancellationException {
  private static final long serialVersionUID = 1L;

  private final long sequence;

  FrameDroppedException(long sequence, String reason) {
    super("frame " + sequence + " dropped: " + reason);
    this.sequence = sequence;
  }

  /** The dropped frame's number in its stream (0 for the first frame submitted). */
  public long sequence() {
    return sequence;
  }
}
